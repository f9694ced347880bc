"""Cohere (v1, v2) and Jina-shaped rerank: documents as strings or objects, top_n, return_documents,
results sorted by relevance_score, each score the cross-encoder's own (sigmoid of its logit)."""
from __future__ import annotations

import numpy as np
import pytest

DOCS = ["the cat sat on the mat", "a dog is happy", "i love paris", "the man ran in the park"]


@pytest.fixture(scope="module")
def expected(server):
    from twinbert.bert import CrossEncoder

    cross = CrossEncoder.load(server.served.cross_encoder.name)
    logits = cross.logits(["a happy dog"] * len(DOCS), DOCS)[:, 0].astype(np.float64)
    return 1 / (1 + np.exp(-logits))


@pytest.mark.parametrize("route", ["/v1/rerank", "/v2/rerank"])
def test_cohere_shape_scores_and_order(client, expected, route):
    got = client.post(route, json={"model": "rerank-english-v3.0", "query": "a happy dog", "documents": DOCS})
    assert got.status_code == 200, got.text
    results = got.json()["results"]
    assert [r["index"] for r in results] == sorted(range(4), key=lambda i: -expected[i])
    np.testing.assert_allclose([r["relevance_score"] for r in results], sorted(expected, reverse=True), atol=1e-6)
    assert all(set(r) == {"index", "relevance_score"} for r in results)
    assert got.json()["meta"]["api_version"]["version"] == route[2] and got.json()["id"]


def test_objects_top_n_and_return_documents(client, expected):
    body = {"query": "a happy dog", "documents": [{"text": d} for d in DOCS], "top_n": 2, "return_documents": True}
    results = client.post("/v1/rerank", json=body).json()["results"]
    best = sorted(range(4), key=lambda i: -expected[i])[:2]
    assert [r["index"] for r in results] == best
    assert [r["document"] for r in results] == [{"text": DOCS[i]} for i in best]


@pytest.mark.parametrize("payload, status, message", [
    ({"query": "a", "documents": []}, 400, "documents is empty"),
    ({"query": "a", "documents": [{"title": "x"}]}, 422, "documents"),
    ({"query": "a", "documents": ["b"], "top_n": 0}, 422, "top_n"),
    ({"documents": ["b"]}, 422, "query"),
])
def test_mistakes_in_openai_like_error_shape(client, payload, status, message):
    response = client.post("/v1/rerank", json=payload)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]["message"]
