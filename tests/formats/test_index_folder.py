"""The index folder format (twinbert.formats.index_folder): what save writes and read checks, refusals,
every damaged file named, crash-safe saves. The Index API over it: tests/search/test_index.py."""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

from twinbert.errors import InputError, OutputError
from twinbert.formats import index_folder
from twinbert.formats.index_folder import ITEMS_FILE, META_FILE, VECTORS_FILE, IndexFolder
from twinbert.search import Index

TEXTS = ["cat cat", "dog", "a car", "the tree", "cat and dog", "car car tree"]


def random_vectors(n=60, dim=4, seed=0):
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def test_save_and_read_a_record(tmp_path):
    record = IndexFolder(random_vectors(3), ["a", 2, "c"], ["x", None, "z"], metric="dot", backend="flat",
                         backend_params={}, model={"name": "m", "settings": {}}, tuning=None)
    path = index_folder.save(record, tmp_path / "ix")
    assert sorted(p.name for p in path.iterdir()) == [ITEMS_FILE, META_FILE, VECTORS_FILE]
    meta = json.loads((path / META_FILE).read_text())
    sums = meta.pop("checksums")
    assert meta == record.meta() and meta["count"] == 3 and meta["dimension"] == 4
    assert sums[VECTORS_FILE] == {"bytes": (path / VECTORS_FILE).stat().st_size,
                                  "sha256": hashlib.sha256((path / VECTORS_FILE).read_bytes()).hexdigest()}
    assert sorted(sums) == [ITEMS_FILE, VECTORS_FILE]
    assert meta["files"] == [META_FILE, VECTORS_FILE, ITEMS_FILE] and not meta["normalized"]
    back = index_folder.read(path)
    assert (back.ids, back.texts, back.metric, back.model, back.ann_path) == (record.ids, record.texts, "dot",
                                                                             record.model, None)
    np.testing.assert_array_equal(back.vectors, record.vectors)
    with pytest.raises(OutputError, match="pass overwrite=True") as refused:
        index_folder.check_save_path(path)
    assert refused.value.argument == "overwrite"
    assert index_folder.check_save_path(path, home=path.resolve()) == path  # its own folder: an update


def test_save_refuses_to_replace_a_non_index(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="not an index"):
        Index.build(embeddings=random_vectors(3)).save(tmp_path / "docs")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        Index.build(embeddings=random_vectors(3)).save(tmp_path / "file")


@pytest.fixture
def saved(tmp_path):
    return Index.build(texts=TEXTS, embeddings=random_vectors(len(TEXTS))).save(tmp_path / "ix")


def rewrite_json(path, **changes):
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize("damage, culprit", [
    (lambda p: (p / META_FILE).unlink(), META_FILE),
    (lambda p: (p / VECTORS_FILE).unlink(), VECTORS_FILE),
    (lambda p: (p / ITEMS_FILE).unlink(), ITEMS_FILE),
    (lambda p: (p / META_FILE).write_text("{not json"), META_FILE),
    (lambda p: rewrite_json(p / META_FILE, format_version=99), META_FILE),
    (lambda p: rewrite_json(p / META_FILE, metric="hamming"), META_FILE),
    (lambda p: rewrite_json(p / META_FILE, count=7), VECTORS_FILE),
    (lambda p: rewrite_json(p / META_FILE, dimension=5), VECTORS_FILE),
    (lambda p: (p / VECTORS_FILE).write_bytes((p / VECTORS_FILE).read_bytes()[:-20]), VECTORS_FILE),
    (lambda p: (p / VECTORS_FILE).write_bytes(b"garbage"), VECTORS_FILE),
    (lambda p: (p / ITEMS_FILE).write_text(
        "".join((p / ITEMS_FILE).read_text().splitlines(keepends=True)[:-1])), ITEMS_FILE),
    (lambda p: (p / ITEMS_FILE).write_text(
        (p / ITEMS_FILE).read_text().replace('"id": 1,', '"id": 0,')), ITEMS_FILE),
    (lambda p: (p / ITEMS_FILE).write_text((p / ITEMS_FILE).read_text() + "{oops\n"), ITEMS_FILE),
])
def test_corrupt_folder_names_the_file(saved, damage, culprit):
    damage(saved)
    with pytest.raises(InputError, match=culprit.replace(".", r"\.")):
        Index.load(saved)


def test_load_missing_folder(tmp_path):
    with pytest.raises(InputError, match="no index folder"):
        Index.load(tmp_path / "nothing")


def test_crash_during_save_keeps_previous_index(saved, monkeypatch):
    index = Index.load(saved)
    index.add(texts=["cat tree"], embeddings=random_vectors(1, seed=1))

    def boom(*args, **kwargs):
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OutputError, match="unchanged"):
        index.save(saved)
    monkeypatch.undo()
    assert len(Index.load(saved)) == 6
    assert sorted(p.name for p in saved.parent.iterdir()) == ["ix"]  # temp folder cleaned up


def test_crash_between_the_two_renames_restores_previous(saved, monkeypatch):
    index = Index.load(saved)
    index.add(texts=["cat tree"], embeddings=random_vectors(1, seed=1))
    real_replace, calls = os.replace, []

    def second_call_fails(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # the old index is already moved aside; the new one fails to move in
            raise OSError("simulated crash")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", second_call_fails)
    with pytest.raises(OutputError):
        index.save(saved)
    monkeypatch.undo()
    assert len(calls) == 3  # the third call put the previous index back
    assert len(Index.load(saved)) == 6
    assert sorted(p.name for p in saved.parent.iterdir()) == ["ix"]


def test_load_puts_the_previous_index_back_after_a_hard_crash(saved):
    # what a kill between the two renames leaves behind: its writer is dead, so the load restores it
    os.replace(saved, saved.parent / ".ix.old-1234abcd")
    assert len(Index.load(saved)) == 6
    assert sorted(p.name for p in saved.parent.iterdir()) == ["ix"]


def test_load_points_to_the_previous_index_when_it_cannot_restore_it(saved, monkeypatch):
    os.replace(saved, saved.parent / ".ix.old-1234abcd")
    monkeypatch.setattr(index_folder, "clean_stale", lambda *a, **k: [])  # as in a read-only folder
    with pytest.raises(InputError, match=r"\.ix\.old-1234abcd.*rename it"):
        Index.load(saved)


# ------------------------------------------------------------------ leftovers of killed saves (issue 22, class 6)
def test_a_killed_saves_leftovers_are_cleaned_by_the_next_save_and_load(saved, tmp_path):
    import signal
    import time

    ready = tmp_path / "written"
    pid = os.fork()  # a writer process without the cost of a new interpreter
    if pid == 0:
        real = index_folder._write_files

        def slow(*args):
            real(*args)
            ready.touch()
            time.sleep(60)  # killed here: its temp folder is complete but never renamed
        index_folder._write_files = slow
        try:
            Index.build(embeddings=random_vectors(6)).save(saved, overwrite=True)
        finally:
            os._exit(1)
    try:
        for _ in range(500):
            if ready.exists():
                break
            time.sleep(0.02)
        [live] = list(saved.parent.glob(".ix.tmp-*"))
        assert len(Index.load(saved)) == 6  # the writer is alive: its temp is left alone
        assert live.is_dir()
    finally:
        os.kill(pid, signal.SIGKILL)  # no finally runs in the writer
        os.waitpid(pid, 0)
        ready.unlink()
    (saved.parent / ".ix.old-0badc0de").mkdir()  # as a kill between the two renames of a swap leaves it
    (saved.parent / ".ix.tmp-mine").mkdir()  # not a name twinbert gives: never touched
    (saved.parent / ".ix.backup").mkdir()
    assert len(Index.load(saved)) == 6
    assert sorted(p.name for p in saved.parent.iterdir()) == [".ix.backup", ".ix.tmp-mine", "ix"]
    os.replace(saved, saved.parent / ".ix.old-12345678")
    (saved.parent / ".ix.tmp-87654321").mkdir()
    Index.build(embeddings=random_vectors(2)).save(saved, overwrite=True)  # a save cleans them too
    assert sorted(p.name for p in saved.parent.iterdir()) == [".ix.backup", ".ix.tmp-mine", "ix"]
    assert len(Index.load(saved)) == 2


def test_a_live_writers_temp_and_moved_aside_folder_are_never_touched(saved):
    from twinbert.formats import atomic

    aside = saved.parent / ".ix.old-1234abcd"
    os.replace(saved, aside)
    temp = saved.parent / ".ix.tmp-1234abcd"
    temp.mkdir()
    held = [atomic.hold(aside), atomic.hold(temp)]  # another descriptor: flock conflicts as across processes
    try:
        assert atomic.clean_stale(saved.parent, "ix") == []
        assert aside.is_dir() and temp.is_dir() and not saved.exists()
    finally:
        for fd in held:
            atomic.release(fd)
    assert atomic.clean_stale(saved.parent, "ix") == [".ix.old-1234abcd", ".ix.tmp-1234abcd"]
    assert saved.is_dir() and not aside.exists() and not temp.exists()


def test_a_damaged_index_file_is_refused_by_its_checksum(saved):
    """Same size, other bytes: only the sha256 meta.json records tells (vectors stay finite floats)."""
    data = bytearray((saved / VECTORS_FILE).read_bytes())
    data[-3] ^= 0x01  # a low mantissa bit of the last vector
    (saved / VECTORS_FILE).write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"vectors\.npy: damaged or changed since the index was saved"):
        Index.load(saved)
