"""OpenAI-compatible routes: POST /v1/embeddings, GET /v1/models.

Vectors are the encoder's own (the model's pooling and normalization); `dimensions` keeps the first N
values and L2-normalizes them again (Matryoshka), refused when larger than the model's; `base64` is the
little-endian float32 bytes, as the official client decodes them. Inputs over the token limit are cut,
as `encode` cuts them; `usage` counts the tokens the model saw, special tokens included.
"""
from __future__ import annotations

import base64
import time

from fastapi import APIRouter, Request

from .engine import shorten
from .inputs import to_rows
from .jsonout import Json
from .schemas import EmbeddingsRequest

router = APIRouter(tags=["OpenAI"])
STARTED = int(time.time())


@router.post("/v1/embeddings")
async def embeddings(body: EmbeddingsRequest, request: Request) -> Json:
    served = request.app.state.served
    key = served.default_key
    rows = to_rows(served.engine, body.input, key, name="input", max_batch=served.config.max_client_batch_size)
    served.metrics.tokens(rows.tokens)
    vectors = shorten(await served.batcher.embed(key, rows), body.dimensions, renormalize=True)
    if body.encoding_format == "base64":
        values = [base64.b64encode(v.astype("<f4").tobytes()).decode() for v in vectors]
    else:
        values = list(vectors)  # float32 rows, written by orjson
    return Json({
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(values)],
        "model": served.name,
        "usage": {"prompt_tokens": rows.tokens, "total_tokens": rows.tokens},
    })


@router.get("/v1/models")
async def models(request: Request) -> Json:
    served = request.app.state.served
    return Json({"object": "list", "data": [
        {"id": served.name, "object": "model", "created": STARTED, "owned_by": "twinbert"}]})
