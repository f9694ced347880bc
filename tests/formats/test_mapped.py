"""Memory-mapped vectors read block by block let their pages go: a full pass over an index's vectors.npy
does not grow the process's RSS by the file's size (Linux: RssFile in /proc/self/status)."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from twinbert.formats.mapped import mapped_blocks

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")


def rss_file_mib() -> float:
    for line in open("/proc/self/status", encoding="ascii"):
        if line.startswith("RssFile:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssFile line")


def test_a_pass_with_mapped_blocks_keeps_the_rss_at_one_block(tmp_path):
    rows, dim = 65536, 256  # 64 MiB of float32
    np.save(tmp_path / "v.npy", np.random.default_rng(0).standard_normal((rows, dim), dtype=np.float32))
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    before = rss_file_mib()
    total = sum(float(block.sum()) for _, block in mapped_blocks(mapped, rows=4096))  # 4 MiB blocks
    after_blocks = rss_file_mib()
    assert total == pytest.approx(float(np.load(tmp_path / "v.npy").sum(dtype=np.float64)), rel=1e-3)
    again = np.load(tmp_path / "v.npy", mmap_mode="r")
    float(np.asarray(again).sum())  # a plain pass over the map: its pages stay in the RSS
    after_plain = rss_file_mib()
    assert after_blocks - before < 16, (before, after_blocks)
    assert after_plain - after_blocks > 48, (after_blocks, after_plain)  # the check above can tell


def test_blocks_cover_every_row_once_in_order():
    array = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
    starts = [(start, block.copy()) for start, block in mapped_blocks(array, rows=4)]
    assert [s for s, _ in starts] == [0, 4, 8]
    np.testing.assert_array_equal(np.concatenate([b for _, b in starts]), array)


def test_row_reader_reads_rows_like_the_map_without_mapping_them(tmp_path):
    from twinbert.formats.mapped import RowReader

    rows, dim = 65536, 256
    data = np.random.default_rng(1).standard_normal((rows, dim), dtype=np.float32)
    np.save(tmp_path / "v.npy", data)
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    reader = RowReader(mapped)
    picked = np.random.default_rng(2).choice(rows, 2000, replace=False)
    before = rss_file_mib()
    got = reader[picked]
    assert rss_file_mib() - before < 4
    np.testing.assert_array_equal(got, data[picked])
    assert len(reader) == rows and reader[[5]].shape == (1, dim)
    with pytest.raises(IndexError, match=f"row {rows} is outside the {rows} rows"):
        reader[[0, rows]]
