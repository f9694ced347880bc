"""OpenAI-compatible routes: POST /v1/embeddings, GET /v1/models, GET /v1/models/{id}.

Vectors are the encoder's own (the model's pooling and normalization); `dimensions` keeps the first N
values and L2-normalizes them again (Matryoshka), refused when larger than the model's; `base64` is the
little-endian float32 bytes, as the official client decodes them. Inputs over the token limit are cut,
as `encode` cuts them; `usage` counts the tokens the model saw, special tokens included. Up to
max_client_batch_size inputs (2,048 by default, OpenAI's limit) a request; the micro-batcher runs them in
calls of at most max_batch_tokens tokens, so memory stays bounded.

Token ids in `input` are OpenAI's (cl100k_base), as the API defines them: they are decoded to text with
that encoding (openai_tokens.py) or, where it is not available offline, refused with a 422 naming the fix.
Extensions (fields OpenAI does not have): `prompt_name` (one of the model's prompts, e.g. "query"), and
`token_ids: "model"` to send ids of this model's own vocabulary (without special tokens) instead.
"""
from __future__ import annotations

import base64
import time

from fastapi import APIRouter, Request

from .engine import shorten
from .errors import ApiError
from .inputs import count_inputs, to_rows
from .jsonout import Json
from .openai_tokens import FIX
from .schemas import EmbeddingsRequest

router = APIRouter(tags=["OpenAI"])
STARTED = int(time.time())


@router.post("/v1/embeddings")
async def embeddings(body: EmbeddingsRequest, request: Request) -> Json:
    served = request.app.state.served
    model = served.model(body.model)
    key = model.engine.key(prompt_name=body.prompt_name) if body.prompt_name is not None else model.default_key
    value = body.input
    if body.token_ids == "openai" and _holds_ids(value):
        value = await served.off_loop(_decoded, served.openai_encoding, value, served.config.max_client_batch_size)
    rows = await served.off_loop(to_rows, model.engine, value, key, name="input",
                                 max_batch=served.config.max_client_batch_size)
    served.metrics.tokens(rows.tokens)
    vectors = shorten(await model.batcher.embed(key, rows), body.dimensions, renormalize=True)
    if body.encoding_format == "base64":
        values = [base64.b64encode(v.astype("<f4").tobytes()).decode() for v in vectors]
    else:
        values = list(vectors)  # float32 rows, written by orjson
    return Json({
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(values)],
        "model": model.name,
        "usage": {"prompt_tokens": rows.tokens, "total_tokens": rows.tokens},
    })


def _holds_ids(value) -> bool:
    return isinstance(value, list) and bool(value) and not any(isinstance(v, str) for v in value)


def _decoded(encoding, value: list, max_batch: int) -> list[str]:
    """Texts of OpenAI token ids (one list, or a list of lists); without the encoding, the 422 naming the fix."""
    rows = [value] if all(isinstance(v, int) for v in value) else value
    count_inputs(len(rows), "input", max_batch)
    if encoding is None:
        raise ApiError(422, "input holds token ids, which OpenAI's API defines as ids of its cl100k_base encoding, "
                            f"and this server cannot read them: {FIX}", "input", "token_ids_unsupported")
    return [encoding.decode(ids, f"input[{i}]") for i, ids in enumerate(rows)]


def _card(model) -> dict:
    return {"id": model.name, "object": "model", "created": STARTED, "owned_by": "twinbert"}


@router.get("/v1/models")
async def models(request: Request) -> Json:
    served = request.app.state.served
    cards = [_card(m) for m in served.models]
    return Json({"object": "list", "data": cards})


@router.get("/v1/models/{model_id:path}")
async def model(model_id: str, request: Request) -> Json:
    served = request.app.state.served
    for m in served.models:
        if model_id in m.aliases:
            return Json(_card(m))
    names = ", ".join(m.name for m in served.models)
    raise ApiError(404, f"model {model_id!r} is not served here; served: {names}", "model", "model_not_found")
