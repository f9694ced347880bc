"""Several models in one server: each picked by its name or alias in `model` (its own micro-batcher), listed
by /v1/models, TEI's routes on the first, memory per model in /info and /metrics; Cohere / Jina-shaped
rerank refused without a reranker; /index/add answering a failed save with a JSON error naming the folder."""
from __future__ import annotations

import errno

import httpx
import numpy as np
import pytest
from conftest import build_tiny_bert

import twinbert
from serve.running import start


@pytest.fixture(scope="module")
def pair(tiny_bert, tmp_path_factory):
    other = build_tiny_bert(tmp_path_factory.mktemp("second") / "other-bert", seed=7)
    index = tmp_path_factory.mktemp("writable") / "ix"
    from twinbert.search import Index

    Index.build(texts=["the cat sat on the mat", "a dog is happy"], encoder=twinbert.load(str(tiny_bert))).save(index)
    running = start([str(tiny_bert), str(other)], index=str(index), allow_writes=True)
    yield running, twinbert.load(str(tiny_bert)), twinbert.load(str(other)), index
    running.stop()


def test_each_model_is_picked_by_name_or_alias(pair):
    running, first, second, _ = pair
    texts = ["the cat sat on the mat", "i love paris"]
    ids = [m["id"] for m in httpx.get(running.url + "/v1/models").json()["data"]]
    assert [i.rsplit("/", 1)[-1] for i in ids] == ["bert", "other-bert"]
    for name, encoder in ((ids[0], first), ("other-bert", second), ("sentence-transformers/other-bert", second)):
        got = httpx.post(running.url + "/v1/embeddings", json={"input": texts, "model": name}, timeout=30).json()
        np.testing.assert_allclose([d["embedding"] for d in got["data"]], encoder.encode(texts), atol=1e-6)
        assert got["model"] == (ids[0] if encoder is first else ids[1])
    assert not np.allclose(first.encode(texts), second.encode(texts))  # the test tells the models apart
    tei = httpx.post(running.url + "/embed", json={"inputs": texts, "normalize": False}).json()  # the first model
    np.testing.assert_allclose(tei, first.encode(texts), atol=1e-6)
    unknown = httpx.post(running.url + "/v1/embeddings", json={"input": "a", "model": "text-embedding-3-small"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found" and "other-bert" in unknown.json()["error"]["message"]
    assert running.served.models[0].batcher is not running.served.models[1].batcher


def test_memory_is_reported_per_model(pair):
    running, first, second, _ = pair
    info = httpx.get(running.url + "/info").json()
    weights = [sum(p.numel() * p.element_size() for p in m.parameters()) for m in (first, second)]
    assert [m["memory_bytes"] >= w for m, w in zip(info["models"], weights)] == [True, True]
    assert [m["memory_bytes"] < w * 1.1 for m, w in zip(info["models"], weights)] == [True, True]
    metrics = httpx.get(running.url + "/metrics").text
    assert sum(line.startswith("twinbert_model_memory_bytes{") for line in metrics.splitlines()) == 2


def test_rerank_without_a_reranker_names_the_flag(pair):
    running = pair[0]
    refused = httpx.post(running.url + "/v1/rerank", json={"query": "a", "documents": ["b"]})
    assert refused.status_code == 400 and "--reranker" in refused.json()["error"]["message"]


def test_a_failed_index_save_is_a_json_error_naming_the_folder(pair, monkeypatch):
    running, _, _, folder = pair
    from twinbert.search import Index

    def full_disk(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    before = httpx.get(running.url + "/info").json()["index"]["count"]
    monkeypatch.setattr(Index, "save", full_disk)
    failed = httpx.post(running.url + "/index/add", json={"texts": ["a new text"]}, timeout=30)
    monkeypatch.undo()
    assert failed.status_code == 500 and failed.headers["content-type"] == "application/json"
    assert str(folder) in failed.json()["error"] and "No space left on device" in failed.json()["error"]
    assert httpx.get(running.url + "/info").json()["index"]["count"] == before == len(Index.load(folder))
    added = httpx.post(running.url + "/index/add", json={"texts": ["a new text"]}, timeout=30)
    assert added.status_code == 200 and added.json()["count"] == before + 1
