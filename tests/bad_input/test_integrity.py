"""Issue 22, class 1: everything twinbert writes with a checksum or fingerprint is checked when read.
One test per artefact kind damages one byte range and checks that the read refuses or rebuilds, and never
returns different numbers: the compiled graph of each runtime (ONNX Runtime's graph, OpenVINO's graph and
its compiled blobs), a Ray output's shard and manifest, an index folder, the converted-model cache."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

import twinbert
from twinbert.errors import InputError
from twinbert.runtime import cache

TEXTS = ["the cat sat on the mat .", "i love paris", "a dog is happy"]


def flip(path: Path, at: float = 0.7, length: int = 256 << 10) -> None:
    """Invert `length` bytes of `path` from `at` of its size (clipped to the file): same size, new bytes."""
    data = bytearray(path.read_bytes())
    start = min(int(len(data) * at), max(0, len(data) - 1))
    end = min(len(data), start + length)
    data[start:end] = bytes(b ^ 0xFF for b in data[start:end])
    path.write_bytes(bytes(data))


@pytest.fixture()
def model(tiny_bert, tmp_path):
    return shutil.copytree(tiny_bert, tmp_path / "model", ignore=shutil.ignore_patterns(cache.FOLDER))


@pytest.fixture(scope="module")
def reference(tiny_bert):
    return twinbert.load(str(tiny_bert), device="cpu", backend="torch").encode(TEXTS)


def _entry(model: Path) -> Path:
    [entry] = [p for p in (model / cache.FOLDER).iterdir() if p.is_dir() and not p.name.startswith(".")]
    return entry


# ------------------------------------------------------------------------- compiled graphs
@pytest.mark.parametrize("backend, name", [("onnx", "model.onnx"), ("openvino", "openvino_model.bin")])
def test_damaged_compiled_graph_is_rebuilt(model, reference, caplog, backend, name):
    twinbert.load(str(model), device="cpu", backend=backend).encode(TEXTS)
    flip(_entry(model) / name, length=64)
    with caplog.at_level(logging.WARNING, logger="twinbert"):
        got = twinbert.load(str(model), device="cpu", backend=backend).encode(TEXTS)
    assert "stale or corrupt; rebuilding" in caplog.text
    np.testing.assert_allclose(got, reference, atol=1e-5)


def test_damaged_openvino_blob_is_never_loaded(model, reference, caplog):
    """OpenVINO writes its compiled blob after the entry's manifest; a damaged one was loaded and gave
    wrong vectors (cosine down to -0.1) on every later load."""
    twinbert.load(str(model), device="cpu", backend="openvino").encode(TEXTS)
    blobs = sorted((_entry(model) / cache.BLOBS).glob("*.blob"))
    assert blobs, "OpenVINO wrote no compiled blob"
    assert set(json.loads((_entry(model) / cache.BLOBS / cache.MANIFEST).read_text())["files"]) == \
        {b.name for b in blobs}
    for blob in blobs:  # the tiny model's weights lie at 6-30 % of its blob: old code gave max diff 2.5
        flip(blob, at=0.15, length=512)
    with caplog.at_level(logging.WARNING, logger="twinbert"):
        got = twinbert.load(str(model), device="cpu", backend="openvino").encode(TEXTS)
    assert "damaged or unknown" in caplog.text
    np.testing.assert_allclose(got, reference, atol=1e-5)
    # the blob compiled afresh is vouched for again, and the next load uses it silently
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="twinbert"):
        np.testing.assert_allclose(twinbert.load(str(model), device="cpu", backend="openvino").encode(TEXTS),
                                   reference, atol=1e-5)
    assert "damaged" not in caplog.text


@pytest.mark.parametrize("home", ["ok", "file"])
def test_compiled_folder_that_is_a_file_runs_without_traceback(model, reference, tmp_path, monkeypatch, caplog,
                                                                home):
    """`MODEL/.twinbert-compiled` a regular file gave FileExistsError: the user cache dir is used instead,
    and when that cannot be written either, the graph is compiled for the run only."""
    (model / cache.FOLDER).write_text("not a folder")
    monkeypatch.setenv("TWINBERT_HOME", str(tmp_path / "home"))
    if home == "file":
        (tmp_path / "home").write_text("not a folder either")
    with caplog.at_level(logging.WARNING, logger="twinbert"):
        got = twinbert.load(str(model), device="cpu", backend="onnx").encode(TEXTS)
    np.testing.assert_allclose(got, reference, atol=1e-5)
    assert (model / cache.FOLDER).read_text() == "not a folder"
    assert "is not a folder" in caplog.text
    if home == "file":
        assert "for this run only" in caplog.text
    else:
        assert len(list((tmp_path / "home" / "compiled").iterdir())) >= 1


# ------------------------------------------------------------------------- Ray outputs: shards and manifest
def _ray_output(folder: Path, parts: list[np.ndarray]) -> Path:
    """A finished distributed encode's folder, written by its own writer (no cluster needed)."""
    from twinbert.formats import shard_manifest as output

    folder.mkdir()
    entries, first = [], 0
    for k, vectors in enumerate(parts):
        ids = np.arange(first, first + len(vectors))
        entries.append({"file": output.shard_name(k), "rows": len(vectors), "first_id": first,
                        "sha256": output.write_shard(folder, k, ids, vectors, None)})
        first += len(vectors)
    output.write_manifest(folder, {"format": output.FORMAT, "format_version": output.FORMAT_VERSION,
                                   "model": None, "column": None, "text": False, "dimension": parts[0].shape[1],
                                   "rows": first, "complete": True, "shards": entries})
    return folder


PARTS = [np.random.default_rng(k).standard_normal((40 + k, 8)).astype(np.float32) for k in range(3)]


def _damage_shard(folder: Path) -> None:
    flip(folder / "part-00001.parquet", at=0.3, length=16)


def _delete_shard(folder: Path) -> None:
    (folder / "part-00001.parquet").unlink()


def _edit_manifest(folder: Path) -> None:  # a shard's rows changed by hand: the shard no longer matches
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["shards"][1]["rows"] += 1
    manifest["rows"] += 1
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _swap_shards(folder: Path) -> None:  # two intact shards under each other's names
    a, b = folder / "part-00000.parquet", folder / "part-00001.parquet"
    a.rename(folder / "x")
    b.rename(a)
    (folder / "x").rename(b)


@pytest.mark.parametrize("damage, message", [
    (_damage_shard, r"part-00001\.parquet: damaged or changed since it was written"),
    (_delete_shard, r"part-00001\.parquet: missing; manifest\.json lists it"),
    (_edit_manifest, r"part-00001\.parquet: holds 41 rows but manifest\.json says 42"),
    (_swap_shards, r"part-00000\.parquet: damaged or changed"),
])
def test_readers_of_a_ray_output_verify_every_shard(tmp_path, damage, message):
    pytest.importorskip("pyarrow")
    from twinbert.formats.shard_manifest import read_embeddings
    from twinbert.search.ivfpq_build import embedding_shards

    folder = _ray_output(tmp_path / "out", PARTS)
    ids, vectors = read_embeddings(folder)
    np.testing.assert_array_equal(vectors, np.concatenate(PARTS))
    damage(folder)
    for reader in (read_embeddings, embedding_shards):
        with pytest.raises(InputError, match=message):
            reader(folder)


def test_an_input_edited_in_place_has_its_shard_encoded_again(tiny_bert, tmp_path):
    """Same size, same rows, one line changed: the resume used to keep the old vector (it compared path,
    size and rows). The driver hashes every input, and the resume redoes the edited one's shard."""
    pytest.importorskip("pyarrow")
    from twinbert.distributed import job, shards
    from twinbert.formats import shard_manifest as output

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("the cat sat\ni love paris\n")
    (tmp_path / "in" / "b.txt").write_text("a dog is happy\n")
    encoder = twinbert.load(str(tiny_bert), device="cpu")
    options = encoder.options()

    folder = tmp_path / "out"

    def adopt(plan) -> dict:
        """The manifest of a run of `plan` in `folder`, the shards a previous run finished taken over."""
        manifest = job._manifest(plan, encoder, options, None, False)
        old = output.read_manifest(folder) if folder.is_dir() else None
        finished = job._finished(folder, old, job._input_entries(plan), None, False) if old else {}
        job._adopt(folder, old, manifest, finished)
        return manifest

    def resume() -> list:
        plan = shards.plan(str(tmp_path / "in" / "*.txt"), None)
        manifest = adopt(plan)
        for shard, entry in zip(plan, manifest["shards"]):  # a finished run: every shard written
            if not entry["sha256"]:
                job._finish(shard, [{"id": np.arange(shard.first_id, shard.first_id + shard.rows),
                                     "embedding": np.zeros((shard.rows, manifest["dimension"]), np.float32)}],
                            folder, manifest, False)
        output.write_manifest(folder, manifest)
        return [e["sha256"] for e in manifest["shards"]]

    first = resume()
    assert all(first)
    (tmp_path / "in" / "a.txt").write_text("the dog sat\ni love paris\n")  # same bytes count, same rows
    manifest = adopt(shards.plan(str(tmp_path / "in" / "*.txt"), None))
    assert [bool(e["sha256"]) for e in manifest["shards"]] == [False, True]  # a.txt's shard is redone, b.txt's kept
    assert not (tmp_path / "out" / "part-00000.parquet").exists()


# ------------------------------------------------------------------------- the converted-model cache (e5)
def test_converted_model_cache_is_keyed_by_content_and_rebuilt_when_damaged(tmp_path, monkeypatch, caplog):
    """The same package file reached through a symlinked virtualenv reused the 470 MB conversion only when
    the path matched; a damaged conversion was loaded. The conversion itself is stubbed (it takes minutes):
    what is tested is when it runs and what is returned."""
    from twinbert.formats import e5_package

    real = e5_package.package_file()
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / e5_package.FILE).symlink_to(real)
    (tmp_path / "venv-link").symlink_to(venv)  # the same virtualenv through another path
    monkeypatch.setenv("TWINBERT_HOME", str(tmp_path / "home"))
    conversions = []

    def write_folder(e5, folder, source):
        conversions.append(folder)
        (folder / "modules.json").write_text("[]")
        (folder / "model.safetensors").write_bytes(bytes(range(256)) * 64)
    monkeypatch.setattr(e5_package, "read_e5_file", lambda path: None)
    monkeypatch.setattr(e5_package, "write_folder", write_folder)

    monkeypatch.setattr(e5_package, "package_file", lambda: venv / e5_package.FILE)
    target = e5_package.converted_folder()
    monkeypatch.setattr(e5_package, "package_file", lambda: tmp_path / "venv-link" / e5_package.FILE)
    assert e5_package.converted_folder() == target and len(conversions) == 1
    copy = tmp_path / "copy" / e5_package.FILE  # a reinstall: another file, the same content
    copy.parent.mkdir()
    shutil.copy(real, copy)
    monkeypatch.setattr(e5_package, "package_file", lambda: copy)
    assert e5_package.converted_folder() == target and len(conversions) == 1
    flip(target / "model.safetensors", at=0.5, length=8)
    with caplog.at_level(logging.WARNING, logger="twinbert"):
        assert e5_package.converted_folder() == target
    assert len(conversions) == 2 and "converting it again" in caplog.text
    assert (target / "model.safetensors").read_bytes() == bytes(range(256)) * 64


# ------------------------------------------------------------------------- index folders
@pytest.mark.parametrize("backend, name", [("flat", "vectors.npy"), ("flat", "items.jsonl"),
                                           ("hnsw", "ann.faiss"), ("hnsw", "vectors.npy")])
def test_damaged_index_file_is_refused(tmp_path, backend, name):
    """One byte range of any file the save wrote, same size: the load refuses, naming the file (a flipped
    mantissa bit of a vector, or a text's letter, passed every other check and changed results)."""
    from twinbert.search import Index

    if backend != "flat":
        pytest.importorskip("faiss")
    vectors = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    path = Index.build(embeddings=vectors, texts=[f"text {k:02d}" for k in range(50)], backend=backend) \
        .save(tmp_path / "ix")
    Index.load(path)
    target = path / name
    data = bytearray(target.read_bytes())
    at = len(data) // 2
    data[at:at + 2] = bytes([data[at] ^ 0x01, data[at + 1]])  # one low bit: still a valid file
    target.write_bytes(bytes(data))
    with pytest.raises(InputError, match=rf"{name.replace('.', chr(92) + '.')}: damaged or changed since the index "
                                         "was saved"):
        Index.load(path)
