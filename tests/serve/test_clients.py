"""The client suite: the official openai client (sync, async, base64, dimensions), langchain-openai's
OpenAIEmbeddings (default settings: it sends cl100k_base token ids; and check_embedding_ctx_length=False),
llama-index's OpenAI-like embedding, huggingface_hub's InferenceClient (feature_extraction,
sentence_similarity, text_classification) and a Cohere-shaped rerank, each checked against the library's
own numbers. The clients live in .venv-clients (made by `make install`), never in twinbert's dependencies;
they run as one child process (client_suite.py) against the session's server."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

import twinbert

HERE = Path(__file__).parent
PYTHON = HERE.parents[1] / ".venv-clients" / "bin" / "python"
TEXTS = ["A man is playing a guitar.", "Someone plays an instrument.", "The stock market fell sharply today."]
QUERY = "Who plays music?"
DOCS = ["the cat sat on the mat", "a dog is happy", "i love paris", "the man ran in the park"]


@pytest.fixture(scope="module")
def answers(server):
    if not PYTHON.exists():
        pytest.skip(f"{PYTHON.parent.parent} is absent: `make install` makes it (the clients' virtualenv)")
    run = subprocess.run([str(PYTHON), str(HERE / "client_suite.py"), server.url, "all-MiniLM-L6-v2"],
                         capture_output=True, text=True, timeout=300, env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


@pytest.mark.parametrize("name", ["openai_default", "openai_float", "openai_async", "langchain_default_documents",
                                  "langchain_plain_documents", "llama_index"])
def test_embedding_clients_get_encode_vectors(answers, minilm, name):
    np.testing.assert_allclose(answers[name], minilm.encode(TEXTS), atol=1e-6, rtol=0)


def test_langchain_default_query_and_openai_extras(answers, minilm):
    # langchain-openai's default sends tiktoken ids: decoded on the server, never read as BERT ids
    np.testing.assert_allclose(answers["langchain_default_query"], minilm.encode(TEXTS[:1]), atol=1e-6, rtol=0)
    full = minilm.encode(TEXTS).astype(np.float64)[:, :64]
    np.testing.assert_allclose(answers["openai_dimensions"], full / np.linalg.norm(full, axis=1, keepdims=True),
                               atol=1e-6, rtol=0)
    assert answers["openai_model_retrieved"] == "all-MiniLM-L6-v2"


def test_huggingface_inference_client(answers, minilm, server):
    from twinbert.bert import Classifier

    vectors = minilm.encode(TEXTS)
    np.testing.assert_allclose(np.array(answers["hf_feature_extraction"]).reshape(-1), vectors[0], atol=1e-6)
    np.testing.assert_allclose(answers["hf_sentence_similarity"], twinbert.similarity(vectors[:1], vectors[1:])[0],
                               atol=1e-6)
    classifier = Classifier.load(server.served.classifier.name)
    probabilities = dict(zip(classifier.labels, classifier.probabilities(["i love paris"])[0].tolist()))
    assert answers["hf_text_classification"] == pytest.approx(probabilities, abs=1e-6)


def test_cohere_shaped_rerank(answers, server):
    from twinbert.bert import CrossEncoder

    cross = CrossEncoder.load(server.served.cross_encoder.name)
    scores = 1 / (1 + np.exp(-cross.logits([QUERY] * len(DOCS), DOCS)[:, 0].astype(np.float64)))
    best = sorted(range(len(DOCS)), key=lambda i: -scores[i])[:3]
    got = answers["cohere_rerank"]
    assert [r["index"] for r in got] == best and [r["document"]["text"] for r in got] == [DOCS[i] for i in best]
    np.testing.assert_allclose([r["relevance_score"] for r in got], scores[best], atol=1e-6)
