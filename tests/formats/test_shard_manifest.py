"""twinbert.formats.shard_manifest: a distributed encode's folder written and read back, checked against
pyarrow's own reading and hashlib (the damaged-folder cases are in tests/bad_input/test_integrity.py)."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from twinbert.errors import InputError
from twinbert.formats import shard_manifest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def test_a_shard_reads_back_as_written(tmp_path):
    ids, vectors = np.arange(10, 14), np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    texts = ["a", "b", "", "the cat"]
    digest = shard_manifest.write_shard(tmp_path, 2, ids, vectors, texts)
    path = tmp_path / "part-00002.parquet"
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    table = pq.read_table(path)
    assert table.column("id").to_pylist() == ids.tolist() and table.column("text").to_pylist() == texts
    np.testing.assert_array_equal(np.array(table.column("embedding").to_pylist(), np.float32), vectors)
    got_ids, got, got_texts = shard_manifest.read_shard(path, 3, texts=True)
    np.testing.assert_array_equal(got_ids, ids)
    np.testing.assert_array_equal(got, vectors)
    assert got.dtype == np.float32 and got_texts == texts
    assert shard_manifest.read_shard(path, 3)[2] is None  # texts only when asked


def test_a_complete_folder_reads_back_in_id_order(tmp_path):
    parts = [np.full((n, 2), k, np.float32) for k, n in enumerate((3, 0, 2))]
    inputs, first = [], 0
    for k, part in enumerate(parts):
        inputs.append({"input": f"/in/{k}.txt", "input_bytes": 1, "input_sha256": "x", "rows": len(part),
                       "first_id": first})
        first += len(part)
    manifest = shard_manifest.new_manifest({"name": "m"}, None, False, 2, inputs)
    assert [s["file"] for s in manifest["shards"]] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert manifest["rows"] == 5 and not manifest["complete"] and not any(s["sha256"] for s in manifest["shards"])
    for k, (part, entry) in enumerate(zip(parts, manifest["shards"])):
        ids = np.arange(entry["first_id"], entry["first_id"] + len(part))
        entry["sha256"] = shard_manifest.write_shard(tmp_path, k, ids, part, None)
    shard_manifest.write_manifest(tmp_path, manifest)
    with pytest.raises(InputError, match="no complete distributed encode here"):
        shard_manifest.read_embeddings(tmp_path)
    manifest["complete"] = True
    shard_manifest.write_manifest(tmp_path, manifest)
    ids, vectors = shard_manifest.read_embeddings(tmp_path)
    assert ids.tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(vectors[:, 0], [0, 0, 0, 2, 2])
