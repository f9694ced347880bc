"""The compiled-model cache: a second load reuses the graph (no export), a corrupt or stale entry is
rebuilt and never used, another runtime version or weights get their own entry, a read-only model folder
sends the cache to the user cache dir, and the real model's second load reaches its first vector fast."""
from __future__ import annotations

import logging
import shutil
import time

import numpy as np
import pytest

import twinbert
from twinbert.runtime import cache, export, sessions

TEXTS = ["the cat sat on the mat .", "i love paris"]


@pytest.fixture()
def model(tiny_bert, tmp_path):
    return shutil.copytree(tiny_bert, tmp_path / "model", ignore=shutil.ignore_patterns(cache.FOLDER))


def _entries(folder):
    root = folder / cache.FOLDER
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []


def _no_export(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("exported again: the cache entry was not reused")
    monkeypatch.setattr(export, "export_backbone", fail)


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_second_load_reuses_the_entry(model, monkeypatch, backend):
    first = twinbert.load(str(model), device="cpu", backend=backend).encode(TEXTS)
    [entry] = _entries(model)
    assert (entry / cache.MANIFEST).is_file()
    _no_export(monkeypatch)
    np.testing.assert_array_equal(twinbert.load(str(model), device="cpu", backend=backend).encode(TEXTS), first)
    assert _entries(model) == [entry]


@pytest.mark.parametrize("damage", ["truncate", "flip", "manifest", "missing"])
def test_corrupt_entry_is_rebuilt_never_used(model, caplog, damage):
    want = twinbert.load(str(model), device="cpu", backend="torch").encode(TEXTS)
    twinbert.load(str(model), device="cpu", backend="onnx").encode(TEXTS)
    [entry] = _entries(model)
    graph = entry / "model.onnx"
    if damage == "truncate":
        graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 2])
    elif damage == "flip":  # same size, one weight byte changed: only the hash tells
        data = bytearray(graph.read_bytes())
        data[-100] ^= 0xFF
        graph.write_bytes(bytes(data))
    elif damage == "manifest":
        (entry / cache.MANIFEST).write_text("{not json")
    else:
        graph.unlink()
    with caplog.at_level(logging.WARNING, logger="twinbert"):
        got = twinbert.load(str(model), device="cpu", backend="onnx").encode(TEXTS)
    assert "stale or corrupt; rebuilding" in caplog.text
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert cache._valid(entry, entry.name)


def test_runtime_version_or_weights_change_make_a_new_entry(model, monkeypatch):
    encoder = twinbert.load(str(model), device="cpu", backend="onnx")
    encoder.encode(TEXTS)
    monkeypatch.setattr(sessions, "version", lambda backend: "999.0")
    twinbert.load(str(model), device="cpu", backend="onnx").encode(TEXTS)
    assert len(_entries(model)) == 2
    monkeypatch.undo()
    trained = twinbert.load(str(model), device="cpu", backend="torch")
    trained.transformer.model.embeddings.word_embeddings.weight.data.mul_(1.5)
    trained.save(model)
    ref = twinbert.load(str(model), device="cpu", backend="torch").encode(TEXTS)
    np.testing.assert_allclose(twinbert.load(str(model), device="cpu", backend="onnx").encode(TEXTS), ref, atol=1e-5)
    assert len(_entries(model)) == 3


def test_read_only_model_folder_uses_the_user_cache(model, tmp_path, monkeypatch):
    monkeypatch.setenv("TWINBERT_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(cache, "writable", lambda folder: False)  # as a read-only folder answers
    assert cache.root_for(model) == tmp_path / "home" / "compiled"
    twinbert.load(str(model), device="cpu", backend="onnx").encode(TEXTS)
    assert _entries(model) == []
    assert len([p for p in (tmp_path / "home" / "compiled").iterdir() if not p.name.startswith(".")]) == 1


def test_fingerprint_follows_weights_and_settings(tiny_bert):
    encoder = twinbert.load(str(tiny_bert), device="cpu", backend="torch")
    weights = cache.weights_hash(encoder.transformer.model)
    assert weights == cache.weights_hash(encoder.transformer.model)
    assert cache.fingerprint(weights, {"a": 1}) != cache.fingerprint(weights, {"a": 2})
    encoder.transformer.model.pooler.dense.bias.data[0] += 1e-3
    assert cache.weights_hash(encoder.transformer.model) != weights


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_real_model_second_load_first_vector_fast(minilm_path, backend):
    twinbert.load(str(minilm_path), device="cpu", backend=backend).encode(["warm the cache"])
    start = time.perf_counter()
    twinbert.load(str(minilm_path), device="cpu", backend="torch")
    torch_load = time.perf_counter() - start
    start = time.perf_counter()
    encoder = twinbert.load(str(minilm_path), device="cpu", backend=backend)
    encoder.encode(["A man is playing a guitar."])
    second = time.perf_counter() - start
    # the weights load as for torch; on top of that, hashing, checking and opening the cached graph
    # (0.5-1.4 s on 2 shared cores; the bound has room for a busy machine)
    assert second - torch_load < 2.0 or second < 2.0, (second, torch_load)
