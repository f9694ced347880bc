"""/search over the index the server loaded (and rerank through the cross-encoder), /index/add with
--allow-writes (atomic: the folder on disk is the index in memory, or stays as it was), /compare."""
from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

import twinbert
from serve.running import CORPUS, start
from twinbert.errors import InputError
from twinbert.search import Index, search_and_rerank


def test_search_returns_what_the_index_returns(client, index_dir, minilm):
    index = Index.load(index_dir)
    got = client.post("/search", json={"query": "Someone rides a horse.", "k": 3}).json()["results"]
    expected = index.search("Someone rides a horse.", k=3, encoder=minilm)[0]
    assert [h["id"] for h in got] == [h["id"] for h in expected] and got[0]["text"] == "A man is riding a horse."
    np.testing.assert_allclose([h["score"] for h in got], [h["score"] for h in expected], atol=1e-6)
    assert [h["rank"] for h in got] == [1, 2, 3]
    many = client.post("/search", json={"queries": ["a cat", "markets"], "k": 2}).json()["results"]
    assert [[h["text"] for h in row] for row in many] == [[h["text"] for h in row] for row in
                                                          index.search(["a cat", "markets"], k=2, encoder=minilm)]


def test_search_modes_return_what_the_index_returns(client, index_dir, minilm):
    index = Index.load(index_dir)
    for mode in ("lexical", "hybrid"):
        got = client.post("/search", json={"query": "a man riding a horse", "k": 3, "mode": mode}).json()["results"]
        expected = index.search("a man riding a horse", k=3, encoder=minilm, mode=mode)[0]
        assert [h["id"] for h in got] == [h["id"] for h in expected]
        np.testing.assert_allclose([h["score"] for h in got], [h["score"] for h in expected], atol=1e-6)
    assert client.get("/info").json()["index"]["modes"] == ["dense", "lexical", "hybrid"]
    bad = client.post("/search", json={"query": "a", "mode": "fuzzy"})
    assert bad.status_code == 422 and "mode" in bad.text


def test_search_can_rerank_with_the_cross_encoder(client, server, index_dir, minilm):
    from twinbert.bert import CrossEncoder

    got = client.post("/search", json={"query": "a cat", "k": 3, "rerank": True}).json()["results"]
    cross = CrossEncoder.load(server.served.cross_encoder.name)
    expected = search_and_rerank(Index.load(index_dir), "a cat", cross, k=3, candidates=20, encoder=minilm)[0]
    assert [h["id"] for h in got] == [h["id"] for h in expected]
    assert all("first_stage_score" in h for h in got)


@pytest.mark.parametrize("payload, status, message", [
    ({"k": 3}, 422, "either query"),
    ({"query": "a", "queries": ["b"]}, 422, "either query"),
    ({"query": "a", "k": 0}, 422, "k: Input should be greater than or equal to 1"),
    ({"queries": []}, 400, "queries is empty"),
])
def test_search_mistakes(client, payload, status, message):
    response = client.post("/search", json=payload)
    assert response.status_code == status and message in response.json()["error"]


def test_a_read_only_index_refuses_writes(client, index_dir):
    refused = client.post("/index/add", json={"texts": ["new"]})
    assert refused.status_code == 403 and "--allow-writes" in refused.json()["error"]
    assert len(Index.load(index_dir)) == len(CORPUS)


def test_writes_append_and_save_atomically(tiny_bert, tmp_path):
    folder = tmp_path / "ix"
    Index.build(texts=["the cat sat on the mat", "a dog is happy"], encoder=twinbert.load(str(tiny_bert))).save(folder)
    running = start(str(tiny_bert), index=str(folder), allow_writes=True)
    try:
        added = httpx.post(running.url + "/index/add", json={"texts": ["i love paris", "the man ran"]}).json()
        assert added == {"added": 2, "ids": [2, 3], "count": 4}
        assert json.loads((folder / "meta.json").read_text())["count"] == 4 and len(Index.load(folder)) == 4
        hit = httpx.post(running.url + "/search", json={"query": "i love paris", "k": 1}).json()["results"][0]
        assert hit["text"] == "i love paris" and hit["id"] == 2
        duplicate = httpx.post(running.url + "/index/add", json={"texts": ["x"], "ids": [3]})
        assert duplicate.status_code == 422 and "3" in duplicate.json()["error"]
        mismatch = httpx.post(running.url + "/index/add", json={"texts": ["x", "y"], "ids": [9]})
        assert mismatch.status_code == 422
        assert len(Index.load(folder)) == 4 and not [p for p in tmp_path.iterdir() if p.name != "ix"]
        info = httpx.get(running.url + "/info").json()["index"]
        assert info["count"] == 4 and info["writable"] is True
    finally:
        running.stop()


def test_an_index_of_another_model_is_refused_at_start(tiny_bert, index_dir):
    from twinbert.serve import load_served

    with pytest.raises(InputError, match="not comparable|other weights|dimension"):
        load_served(str(tiny_bert), index=str(index_dir))
    with pytest.raises(InputError, match="allow_writes=True needs an index"):
        from twinbert.serve import ServeConfig
        load_served(str(tiny_bert), ServeConfig(allow_writes=True))


def test_routes_without_their_model_say_which_flag(tiny_bert):
    running = start(str(tiny_bert))
    try:
        for route, payload, flag in [("/search", {"query": "a"}, "--index"), ("/rerank", {"query": "a", "texts": ["b"]},
                                     "--reranker"), ("/predict", {"inputs": "a"}, "--classifier")]:
            response = httpx.post(running.url + route, json=payload)
            assert response.status_code == 400 and flag in response.json()["error"], route
    finally:
        running.stop()


def test_compare_scores_poolings_like_the_library(client, minilm):
    from twinbert.compare import compare

    sentences = ["A yellow rubber duck floats in a bathtub.", "rubber duck", "table"]
    got = client.post("/compare", json={"sentences": sentences, "poolings": ["cls", "mean"]}).json()
    expected = compare({"all-MiniLM-L6-v2": minilm}, sentences, ["cls", "mean"])
    assert [c["pooling"] for c in got["columns"]] == ["cls", "mean"]
    np.testing.assert_allclose([c["scores"] for c in got["columns"]], [c["scores"] for c in expected["columns"]],
                               atol=1e-6)
    bad = client.post("/compare", json={"sentences": sentences, "poolings": ["nope"]})
    assert bad.status_code == 422 and "nope" in bad.json()["error"]
