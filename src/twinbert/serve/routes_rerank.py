"""Rerank as the common clients call it: Cohere's POST /v1/rerank and /v2/rerank, which Jina's API shares
(LangChain's CohereRerank / JinaRerank, LlamaIndex, Haystack, Dify). Served by the cross-encoder
(--reranker, alias --cross-encoder); TEI's own shape is POST /rerank (routes_tei.py).

Request: `query`, `documents` (strings, or objects with a `text`), `top_n`, `return_documents`. Answer:
`results` sorted by `relevance_score` (the cross-encoder's sigmoid score, as TEI's /rerank gives it),
best first, each with the document's `index` (and `document: {"text"}` when asked), plus Cohere's `id`
and `meta` and Jina's `model` and `usage`, so that each client finds the fields it reads.
"""
from __future__ import annotations

import uuid

import numpy as np
from fastapi import APIRouter, Request

from ..bert.sequence import sigmoid
from .inputs import count_inputs
from .jsonout import Json
from .schemas import CohereRerankRequest

router = APIRouter(tags=["rerank (Cohere, Jina)"])


async def _rerank(body: CohereRerankRequest, request: Request, version: str) -> Json:
    served = request.app.state.served
    cross = served.need("cross_encoder", "--reranker", "/v1/rerank")
    texts = [d if isinstance(d, str) else d.text for d in body.documents]
    count_inputs(len(texts), "documents", served.config.max_client_batch_size)
    tokens = await served.off_loop(cross.tokenize, [body.query] * len(texts), texts)
    logits = await served.batcher.call(lambda: cross.logits_of(tokens))
    scores = sigmoid(logits[:, 0].astype(np.float64))
    order = sorted(range(len(texts)), key=lambda i: (-scores[i], i))[:body.top_n]
    results = [{"index": i, "relevance_score": float(scores[i]),
                **({"document": {"text": texts[i]}} if body.return_documents else {})} for i in order]
    used = sum(len(row) for row in tokens.input_ids)
    return Json({"id": str(uuid.uuid4()), "model": body.model or cross.name, "results": results,
                 "meta": {"api_version": {"version": version}, "billed_units": {"search_units": 1}},
                 "usage": {"total_tokens": used}})


@router.post("/v1/rerank")
async def rerank_v1(body: CohereRerankRequest, request: Request) -> Json:
    return await _rerank(body, request, "1")


@router.post("/v2/rerank")
async def rerank_v2(body: CohereRerankRequest, request: Request) -> Json:
    return await _rerank(body, request, "2")
