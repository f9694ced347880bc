"""TEI's routes, shapes and status codes against the library they call: POST /, /invocations, /embed,
/embed_all, /similarity, /rerank, /predict, /tokenize, /decode, /info, /health, /ping, /metrics,
/openapi.json, /docs."""
from __future__ import annotations

import numpy as np
import pytest

import twinbert

SENTENCES = ["A man is playing a guitar.", "Someone plays an instrument.", "The stock market fell."]


def test_embed_returns_encode_vectors_in_every_shape(client, minilm):
    expected = minilm.encode(SENTENCES)
    one = client.post("/embed", json={"inputs": SENTENCES[0]})
    assert one.status_code == 200 and np.array(one.json()).shape == (1, 384)
    np.testing.assert_allclose(one.json(), expected[:1], atol=1e-6, rtol=0)
    many = client.post("/embed", json={"inputs": SENTENCES})
    np.testing.assert_allclose(many.json(), expected, atol=1e-6, rtol=0)
    raw = client.post("/embed", json={"inputs": SENTENCES, "normalize": False}).json()
    np.testing.assert_allclose(raw, minilm.encode(SENTENCES, normalize=False), atol=1e-5, rtol=1e-6)
    short = np.array(client.post("/embed", json={"inputs": SENTENCES, "dimensions": 32}).json())
    cut = expected[:, :32] / np.linalg.norm(expected[:, :32], axis=1, keepdims=True)
    np.testing.assert_allclose(short, cut, atol=1e-6, rtol=0)


def test_embed_truncates_by_default_as_tei_1_9_2_and_refuses_when_asked(client, minilm):
    long = "word " * 300  # 302 tokens; the model takes 256
    cut = client.post("/embed", json={"inputs": ["fine", long]})  # TEI >= 1.9.2: auto-truncate is on
    assert cut.status_code == 200
    np.testing.assert_allclose(cut.json(), minilm.encode(["fine", long]), atol=1e-6, rtol=0)
    refused = client.post("/embed", json={"inputs": ["fine", long], "truncate": False})
    assert refused.status_code == 413
    assert refused.json() == {"error": "inputs[1] has 302 tokens, more than the limit of 256 (max_input_tokens); "
                                       "send truncate=true to cut it", "error_type": "validation"}
    right = client.post("/embed", json={"inputs": long, "truncate": True}).json()
    np.testing.assert_allclose(right[0], minilm.encode(long), atol=1e-6, rtol=0)
    text = "first " * 10 + "middle " * 300 + "last " * 10
    left = client.post("/embed", json={"inputs": text, "truncate": True, "truncation_direction": "Left"}).json()
    tail = "middle " * 244 + "last " * 10  # what is kept from the end: 254 tokens and [CLS] [SEP]
    np.testing.assert_allclose(left[0], minilm.encode(tail), atol=1e-6, rtol=0)


def test_embed_all_gives_every_token_vector(client, minilm):
    got = client.post("/embed_all", json={"inputs": SENTENCES[:2]}).json()
    expected = minilm.encode(SENTENCES[:2], output="token", normalize=False)
    assert [len(g) for g in got] == [len(e) for e in expected] == [9, 7]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, atol=1e-5, rtol=0)


def test_similarity_scores_each_sentence_against_the_source(client, minilm):
    got = client.post("/similarity", json={"inputs": {"source_sentence": SENTENCES[0], "sentences": SENTENCES[1:]}})
    vectors = minilm.encode(SENTENCES)
    np.testing.assert_allclose(got.json(), twinbert.similarity(vectors[:1], vectors[1:])[0], atol=1e-6)
    assert client.post("/similarity", json={"inputs": {"source_sentence": "a"}}).status_code == 422


def test_rerank_orders_by_the_cross_encoder(client, server):
    from twinbert.bert import CrossEncoder

    cross = CrossEncoder.load(server.served.cross_encoder.name)
    texts = ["the cat sat on the mat", "a dog is happy", "i love paris", "the man ran in the park"]
    got = client.post("/rerank", json={"query": "a happy dog", "texts": texts}).json()
    expected = cross.rerank("a happy dog", texts)
    assert [g["index"] for g in got] == [e["index"] for e in expected]
    np.testing.assert_allclose([g["score"] for g in got], [e["score"] for e in expected], atol=1e-6)
    assert all(set(g) == {"index", "score"} for g in got)
    with_text = client.post("/rerank", json={"query": "a happy dog", "texts": texts, "return_text": True}).json()
    assert [g["text"] for g in with_text] == [texts[g["index"]] for g in with_text]
    raw = client.post("/rerank", json={"query": "a happy dog", "texts": texts, "raw_scores": True}).json()
    logits = cross.logits(["a happy dog"] * 4, texts)[:, 0]
    np.testing.assert_allclose(sorted(g["score"] for g in raw), sorted(logits), atol=1e-5)


def test_predict_single_batch_and_pairs(client, server):
    from twinbert.bert import Classifier
    from twinbert.bert.sequence import softmax

    clf = Classifier.load(server.served.classifier.name)
    single = client.post("/predict", json={"inputs": "i love paris"}).json()
    assert [s["score"] for s in single] == sorted((s["score"] for s in single), reverse=True)
    probs = dict(zip(clf.labels, clf.probabilities(["i love paris"])[0]))
    assert {s["label"]: pytest.approx(probs[s["label"]], abs=1e-6) for s in single} == probs
    batch = client.post("/predict", json={"inputs": [["i love paris"], ["a dog is happy"]]}).json()
    assert len(batch) == 2 and [s["label"] for s in batch[0]] == [s["label"] for s in single]
    assert [s["score"] for s in batch[0]] == pytest.approx([s["score"] for s in single], abs=1e-6)
    pair = client.post("/predict", json={"inputs": ["i love paris", "a dog is happy"]}).json()
    pair_probs = softmax(clf.logits(["i love paris"], ["a dog is happy"]).astype(np.float64))[0]
    assert {s["label"]: s["score"] for s in pair} == pytest.approx(dict(zip(clf.labels, pair_probs)), abs=1e-6)
    raw = client.post("/predict", json={"inputs": "i love paris", "raw_scores": True}).json()
    logits = dict(zip(clf.labels, clf.logits(["i love paris"])[0]))
    assert {s["label"]: s["score"] for s in raw} == pytest.approx(logits, abs=1e-5)
    mixed = client.post("/predict", json={"inputs": [["a", "b"], ["c"]]})
    assert mixed.status_code == 422 and "pair" in mixed.json()["error"]


def test_tokenize_gives_tei_byte_offsets_and_the_original_text(client, minilm):
    text = "Café in Paris, isn't it?"  # "é" is two bytes: offsets after it differ from character offsets
    got = client.post("/tokenize", json={"inputs": [text]}).json()[0]
    assert [t["id"] for t in got] == minilm.transformer.tokenize([text]).input_ids[0]
    assert got[0] == {"id": 101, "text": "[CLS]", "special": True, "start": None, "stop": None}
    assert got[-1]["special"] and not any(t["special"] for t in got[1:-1])
    raw = text.encode("utf-8")
    for t in got[1:-1]:
        assert raw[t["start"]:t["stop"]].decode("utf-8") == t["text"]  # byte offsets, the text as sent
    assert got[1]["text"] == "Café" and (got[1]["start"], got[1]["stop"]) == (0, 5)
    assert got[2] == {"id": got[2]["id"], "text": "in", "special": False, "start": 6, "stop": 8}
    bare = client.post("/tokenize", json={"inputs": text, "add_special_tokens": False}).json()[0]
    assert bare == got[1:-1]


def test_decode_gives_the_text_of_ids(client, minilm):
    ids = minilm.transformer.tokenize(["A man is playing a guitar."]).input_ids[0]
    one = client.post("/decode", json={"ids": ids}).json()
    assert one == [minilm.tokenizer.decode(ids, skip_special_tokens=True)] == ["a man is playing a guitar."]
    both = client.post("/decode", json={"ids": [ids, ids[:3]], "skip_special_tokens": False}).json()
    assert both == ["[CLS] a man is playing a guitar. [SEP]", "[CLS] a man"]
    bad = client.post("/decode", json={"ids": [1, 99999]})
    assert bad.status_code == 422 and "token id 99999" in bad.json()["error"]


def test_root_and_invocations_dispatch_like_tei(client, minilm):
    expected = minilm.encode(SENTENCES)
    for route in ("/", "/invocations"):
        embedded = client.post(route, json={"inputs": SENTENCES})
        assert embedded.status_code == 200, embedded.text
        np.testing.assert_allclose(embedded.json(), expected, atol=1e-6, rtol=0)
        similar = client.post(route, json={"inputs": {"source_sentence": SENTENCES[0], "sentences": SENTENCES[1:]}})
        np.testing.assert_allclose(similar.json(), twinbert.similarity(expected[:1], expected[1:])[0], atol=1e-6)
        reranked = client.post(route, json={"query": "a guitar", "texts": SENTENCES})
        assert sorted(r["index"] for r in reranked.json()) == [0, 1, 2]
    bad = client.post("/", json={"inputs": 3})
    assert bad.status_code == 422 and set(bad.json()) == {"error", "error_type"} and "inputs" in bad.json()["error"]
    assert client.post("/", content=b"{").status_code == 422


def test_ping_and_docs_work_offline(client):
    assert client.get("/ping").status_code == 200
    page = client.get("/docs")
    assert page.status_code == 200 and "/openapi.json" in page.text
    assert "cdn" not in page.text.lower() and "/docs/swagger-ui-bundle.js" in page.text
    script = client.get("/docs/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    assert client.get("/docs/swagger-ui.css").status_code == 200
    assert client.get("/docs/../state.py").status_code == 404


def test_info_health_and_openapi(client):
    info = client.get("/info").json()
    assert info["model_id"] == "all-MiniLM-L6-v2" and info["max_input_length"] == 256
    assert info["model_type"] == {"embedding": {"pooling": "mean"}} and info["max_client_batch_size"] == 2048
    assert info["auto_truncate"] is True and info["openai_token_ids"] is True
    [model] = info["models"]
    assert model["id"] == "all-MiniLM-L6-v2" and model["dimension"] == 384
    assert 22_500_000 * 4 < model["memory_bytes"] < 23_500_000 * 4  # all-MiniLM-L6-v2: 22.7 M float32 weights
    assert info["index"]["count"] == 8 and info["index"]["writable"] is False
    assert client.get("/health").status_code == 200
    schema = client.get("/openapi.json").json()
    for path in ("/v1/embeddings", "/v1/rerank", "/v2/rerank", "/", "/invocations", "/decode", "/ping", "/embed", "/embed_all", "/similarity", "/rerank", "/predict", "/tokenize",
                 "/search", "/index/add", "/info", "/health", "/metrics"):
        assert path in schema["paths"], path


def test_metrics_parse_with_prometheus_client(client):
    from prometheus_client.parser import text_string_to_metric_families

    client.post("/embed", json={"inputs": ["a", "b", "c"]})
    client.post("/embed", json={"inputs": 3})
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    requests = {(s.labels["route"], s.labels["status"]): s.value for s in families["twinbert_requests"].samples}
    assert requests[("/embed", "200")] >= 1 and requests[("/embed", "422")] >= 1
    latency = [s for s in families["twinbert_request_duration_seconds"].samples
               if s.name.endswith("_count") and s.labels["route"] == "/embed"]
    assert latency and latency[0].value >= 2
    assert families["twinbert_batch_rows"].type == "histogram"
    assert families["twinbert_queue_rows"].samples[0].value >= 0
    assert families["twinbert_batch_tokens"].samples[0].value > 0
    assert families["twinbert_input_tokens"].samples[0].value >= 7
    memory = {s.labels["model"]: s.value for s in families["twinbert_model_memory_bytes"].samples}
    assert list(memory) == ["all-MiniLM-L6-v2"] and memory["all-MiniLM-L6-v2"] > 22_500_000 * 4


@pytest.mark.parametrize("route, payload, status, error", [
    ("/embed", {"inputs": ["a"] * 2049}, 413, "batch size 2049 > maximum allowed batch size 2048"),
    ("/embed", {"inputs": []}, 400, "inputs is empty"),
    ("/embed", {"inputs": "a", "normalize": "yes"}, 422, "normalize: Input should be a valid boolean"),
    ("/embed", {"inputs": "a", "prompt_name": "query"}, 422, "prompt_name 'query'"),
    ("/embed", {"inputs": "a", "truncation_direction": "Up"}, 422, "truncation_direction"),
    ("/rerank", {"query": "a", "texts": []}, 400, "texts is empty"),
    ("/rerank", {"query": 1, "texts": ["a"]}, 422, "query: Input should be a valid string"),
    ("/tokenize", {"inputs": None}, 422, "inputs"),
    ("/similarity", {"inputs": {"source_sentence": "a", "sentences": []}}, 400, "inputs.sentences is empty"),
])
def test_client_mistakes_get_tei_errors(client, route, payload, status, error):
    response = client.post(route, json=payload)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_type"} and error in body["error"]


def test_cors_lets_the_allowed_origin_in(client):
    preflight = client.options("/embed", headers={"Origin": "http://example.org", "Access-Control-Request-Method": "POST",
                                                  "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://example.org"
    answer = client.post("/embed", json={"inputs": "a"}, headers={"Origin": "http://example.org"})
    assert answer.headers["access-control-allow-origin"] == "http://example.org"
    other = client.post("/embed", json={"inputs": "a"}, headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers
