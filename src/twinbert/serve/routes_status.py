"""The server's state, in TEI's shapes: GET /info, /health, /ping, /metrics (Prometheus text, open to
scrapers without the API key, as TEI keeps it). Each served model is listed with the memory its weights
hold (/info's `models`, /metrics' twinbert_model_memory_bytes)."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from .. import __version__
from .errors import ApiError
from .jsonout import Json

router = APIRouter(tags=["status"])


@router.get("/info")
async def info(request: Request) -> Json:
    served = request.app.state.served
    encoder = served.encoder
    return Json({
        # what really runs: the backbone's backend and precision (ONNX Runtime int8, not the torch weights' dtype)
        "model_id": served.name, "model_sha": None, "model_dtype": encoder.precision, "backend": encoder.backend,
        "model_type": {"embedding": {"pooling": "+".join(encoder.pooling.modes)}},
        "max_input_length": served.engine.limit, "auto_truncate": served.auto_truncate,
        "tokenization_workers": 1, "max_batch_requests": None, "version": __version__, "sha": None,
        "docker_label": None, "dimension": encoder.dimension, "normalize": encoder.normalize is not None,
        "prompts": encoder.prompts, **served.config.info(),
        "models": [m.info() for m in served.models],
        "openai_token_ids": served.openai_encoding is not None,
        "cross_encoder": served.cross_encoder.name if served.cross_encoder is not None else None,
        "classifier": served.classifier.name if served.classifier is not None else None,
        "index": served.index_info(),
    })


async def _health(request: Request) -> PlainTextResponse:
    if not request.app.state.served.ready:
        raise ApiError(503, "the model is loading")
    return PlainTextResponse("")


@router.get("/health")
async def health(request: Request):
    return await _health(request)


@router.get("/ping")
async def ping(request: Request):
    """SageMaker's health check, as TEI answers it."""
    return await _health(request)


@router.get("/metrics")
async def metrics(request: Request) -> PlainTextResponse:
    served = request.app.state.served
    waiting = sum(m.batcher.waiting_rows for m in served.models if m.batcher is not None)
    text = served.metrics.text(waiting, _stats(served))
    lines = ["# HELP twinbert_model_memory_bytes Bytes of the weights a served model holds.",
             "# TYPE twinbert_model_memory_bytes gauge"]
    lines += [f'twinbert_model_memory_bytes{{model="{_label(m.name)}"}} {m.memory_bytes}' for m in served.models]
    return PlainTextResponse(text + "\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _stats(served):
    """The batchers' statistics, summed over the models (the default model's object, when there is one)."""
    stats = [m.batcher.stats for m in served.models if m.batcher is not None]
    total = stats[0]
    for other in stats[1:]:
        total.batches += other.batches
        total.rows += other.rows
        total.tokens += other.tokens
        total.sizes.extend(other.sizes)
        other.sizes.clear()
        other.batches = other.rows = other.tokens = 0
    return total
