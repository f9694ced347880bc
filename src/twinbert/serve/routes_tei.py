"""TEI-compatible routes (text-embeddings-inference's shapes and status codes): /embed, /embed_all,
/similarity, /rerank, /predict, /tokenize, /info, /health, /metrics.

`truncate` defaults to false as in TEI: an input over the token limit is a 413 unless truncate=true.
/rerank needs --cross-encoder and /predict --classifier (else 400 naming the flag).
"""
from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from .. import __version__
from ..bert.sequence import sigmoid, softmax
from ..modules.token_offsets import token_offsets
from ..similarity import similarity
from .engine import shorten
from .errors import ApiError
from .inputs import count_inputs, to_rows
from .jsonout import Json
from .schemas import (
    EmbedAllRequest,
    EmbedRequest,
    PredictRequest,
    RerankRequest,
    SimilarityRequest,
    TokenizeRequest,
)

router = APIRouter(tags=["TEI"])


def _served(request: Request):
    return request.app.state.served


@router.post("/embed")
async def embed(body: EmbedRequest, request: Request) -> Json:
    served = _served(request)
    key = served.engine.key(normalize=body.normalize, prompt_name=body.prompt_name)
    rows = to_rows(served.engine, body.inputs, key, name="inputs", max_batch=served.config.max_client_batch_size,
                   truncate=served.truncate(body.truncate), direction=body.truncation_direction)
    served.metrics.tokens(rows.tokens)
    vectors = await served.batcher.embed(key, rows)
    return Json(shorten(vectors, body.dimensions, renormalize=body.normalize))


@router.post("/embed_all")
async def embed_all(body: EmbedAllRequest, request: Request) -> Json:
    served = _served(request)
    key = served.engine.key(output="token", normalize=False, prompt_name=body.prompt_name)
    rows = to_rows(served.engine, body.inputs, key, name="inputs", max_batch=served.config.max_client_batch_size,
                   truncate=served.truncate(body.truncate), direction=body.truncation_direction)
    served.metrics.tokens(rows.tokens)
    return Json(await served.batcher.embed(key, rows))


@router.post("/similarity")
async def similarity_route(body: SimilarityRequest, request: Request) -> Json:
    served = _served(request)
    texts = [body.inputs.source_sentence, *body.inputs.sentences]
    count_inputs(len(body.inputs.sentences), "inputs.sentences", served.config.max_client_batch_size)
    key = served.engine.key(prompt_name=body.prompt_name)
    rows = served.engine.texts(texts, key, truncate=served.truncate(body.truncate),
                               left=body.truncation_direction.lower() == "left")
    served.metrics.tokens(rows.tokens)
    vectors = await served.batcher.embed(key, rows)
    return Json(similarity(vectors[:1], vectors[1:])[0])


@router.post("/rerank")
async def rerank(body: RerankRequest, request: Request) -> Json:
    served = _served(request)
    cross = served.need("cross_encoder", "--cross-encoder", "/rerank")
    count_inputs(len(body.texts), "texts", served.config.max_client_batch_size)
    logits = await served.batcher.call(lambda: cross.logits([body.query] * len(body.texts), body.texts))
    scores = logits[:, 0] if body.raw_scores else sigmoid(logits[:, 0].astype(np.float64))
    order = sorted(range(len(body.texts)), key=lambda i: (-scores[i], i))
    return Json([{"index": i, "score": float(scores[i]), **({"text": body.texts[i]} if body.return_text else {})}
                         for i in order])


@router.post("/predict")
async def predict(body: PredictRequest, request: Request) -> Json:
    served = _served(request)
    classifier = served.need("classifier", "--classifier", "/predict")
    single = isinstance(body.inputs, str) or (len(body.inputs) == 2 and all(isinstance(x, str) for x in body.inputs))
    batch = [body.inputs] if single else body.inputs
    count_inputs(len(batch), "inputs", served.config.max_client_batch_size)
    firsts, seconds = _sequences(batch)
    logits = await served.batcher.call(lambda: classifier.logits(firsts, seconds))
    values = logits if body.raw_scores else softmax(logits.astype(np.float64))
    labels = classifier.labels
    result = [sorted(({"score": float(v), "label": label} for label, v in zip(labels, row)),
                     key=lambda x: -x["score"]) for row in values]
    return Json(result[0] if single else result)


def _sequences(batch: list) -> tuple[list[str], list[str] | None]:
    """Texts, or text pairs ([a, b]); a batch is all texts or all pairs."""
    pairs = [isinstance(x, list) and len(x) == 2 for x in batch]
    for i, x in enumerate(batch):
        if isinstance(x, list) and len(x) not in (1, 2) or (isinstance(x, list) and len(x) == 1 and any(pairs)):
            raise ApiError(422, f"inputs[{i}] has {len(x)} texts: expected a text or a pair [a, b]", "inputs")
    if any(pairs) and not all(pairs):
        raise ApiError(422, "inputs mixes texts and pairs: send all texts or all pairs", "inputs")
    if all(pairs):
        return [x[0] for x in batch], [x[1] for x in batch]
    return [x if isinstance(x, str) else x[0] for x in batch], None


@router.post("/tokenize")
async def tokenize(body: TokenizeRequest, request: Request) -> Json:
    served = _served(request)
    texts = [body.inputs] if isinstance(body.inputs, str) else body.inputs
    count_inputs(len(texts), "inputs", served.config.max_client_batch_size)
    prompt = served.engine.key(prompt_name=body.prompt_name).options.prompt or ""
    tokens = token_offsets(served.encoder.transformer, [prompt + t for t in texts],
                           add_special_tokens=body.add_special_tokens)
    return Json([[{"id": t.id, "text": t.text, "special": t.special, "start": t.start, "stop": t.stop}
                          for t in row] for row in tokens])


@router.get("/info")
async def info(request: Request) -> Json:
    served = _served(request)
    encoder = served.encoder
    return Json({
        "model_id": served.name, "model_sha": None, "model_dtype": str(encoder.dtype).replace("torch.", ""),
        "model_type": {"embedding": {"pooling": "+".join(encoder.pooling.modes)}},
        "max_input_length": served.engine.limit, "auto_truncate": served.auto_truncate,
        "tokenization_workers": 1, "max_batch_requests": None, "version": __version__, "sha": None,
        "docker_label": None, "dimension": encoder.dimension, "normalize": encoder.normalize is not None,
        "prompts": encoder.prompts, **served.config.info(),
        "cross_encoder": served.cross_encoder.name if served.cross_encoder is not None else None,
        "classifier": served.classifier.name if served.classifier is not None else None,
        "index": served.index_info(),
    })


@router.get("/health")
async def health(request: Request):
    served = _served(request)
    if not served.ready:
        raise ApiError(503, "the model is loading")
    return PlainTextResponse("")


@router.get("/metrics")
async def metrics(request: Request) -> PlainTextResponse:
    served = _served(request)
    return PlainTextResponse(served.metrics.text(served.batcher.waiting_rows, served.batcher.stats),
                             media_type="text/plain; version=0.0.4")
