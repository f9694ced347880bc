"""TEI-compatible routes (text-embeddings-inference 1.9's shapes and status codes): POST / and
/invocations (dispatched), /embed, /embed_all, /similarity, /rerank, /predict, /tokenize, /decode.
They serve the default (first) model; /info, /health, /ping and /metrics are in routes_status.py.

`truncate` defaults as in TEI since 1.9.2: an input over the token limit is cut (auto-truncate), unless
the server runs with --no-auto-truncate or the request says truncate=false (then 413).
/rerank needs --reranker and /predict --classifier (else 400 naming the flag). Requests are tokenized on
the server's tokenization worker, never on the event loop.
"""
from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from ..bert.sequence import sigmoid, softmax
from ..modules.token_offsets import token_offsets
from ..similarity import similarity
from .engine import shorten
from .errors import ApiError
from .inputs import count_inputs, to_rows
from .jsonout import Json
from .schemas import (
    DecodeRequest,
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
    rows = await served.off_loop(to_rows, served.engine, body.inputs, key, name="inputs",
                                 max_batch=served.config.max_client_batch_size,
                                 truncate=served.truncate(body.truncate), direction=body.truncation_direction)
    served.metrics.tokens(rows.tokens)
    vectors = await served.batcher.embed(key, rows)
    return Json(shorten(vectors, body.dimensions, renormalize=body.normalize))


@router.post("/embed_all")
async def embed_all(body: EmbedAllRequest, request: Request) -> Json:
    served = _served(request)
    key = served.engine.key(output="token", normalize=False, prompt_name=body.prompt_name)
    rows = await served.off_loop(to_rows, served.engine, body.inputs, key, name="inputs",
                                 max_batch=served.config.max_client_batch_size,
                                 truncate=served.truncate(body.truncate), direction=body.truncation_direction)
    served.metrics.tokens(rows.tokens)
    return Json(await served.batcher.embed(key, rows))


@router.post("/similarity")
async def similarity_route(body: SimilarityRequest, request: Request) -> Json:
    served = _served(request)
    texts = [body.inputs.source_sentence, *body.inputs.sentences]
    count_inputs(len(body.inputs.sentences), "inputs.sentences", served.config.max_client_batch_size)
    key = served.engine.key(prompt_name=body.prompt_name)
    rows = await served.off_loop(served.engine.texts, texts, key, truncate=served.truncate(body.truncate),
                                 left=body.truncation_direction.lower() == "left")
    served.metrics.tokens(rows.tokens)
    vectors = await served.batcher.embed(key, rows)
    return Json(similarity(vectors[:1], vectors[1:])[0])


@router.post("/rerank")
async def rerank(body: RerankRequest, request: Request) -> Json:
    served = _served(request)
    cross = served.need("cross_encoder", "--reranker", "/rerank")
    count_inputs(len(body.texts), "texts", served.config.max_client_batch_size)
    tokens = await served.off_loop(cross.tokenize, [body.query] * len(body.texts), body.texts)
    logits = await served.batcher.call(lambda: cross.logits_of(tokens))
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
    tokens = await served.off_loop(classifier.tokenize, firsts, seconds)
    logits = await served.batcher.call(lambda: classifier.logits_of(tokens))
    hf = body.parameters  # huggingface_hub's InferenceClient.text_classification: [[...]] even for one text
    apply = (hf.function_to_apply if hf is not None else None) or ("none" if body.raw_scores else "softmax")
    values = {"none": lambda x: x, "sigmoid": sigmoid, "softmax": softmax}[apply](logits.astype(np.float64))
    labels = classifier.labels
    result = [sorted(({"score": float(v), "label": label} for label, v in zip(labels, row)),
                     key=lambda x: -x["score"])[:hf.top_k if hf is not None else None] for row in values]
    return Json(result[0] if single and hf is None else result)


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
    """TEI's tokens: byte offsets into the text as sent (a prompt included) and the text they cover;
    special tokens carry their own text and no offsets."""
    served = _served(request)
    texts = [body.inputs] if isinstance(body.inputs, str) else body.inputs
    count_inputs(len(texts), "inputs", served.config.max_client_batch_size)
    full, _ = served.encoder.apply_prompt(texts, served.engine.key(prompt_name=body.prompt_name).options.prompt)
    tokens = await served.off_loop(token_offsets, served.encoder.transformer, full,
                                   add_special_tokens=body.add_special_tokens)
    return Json([_tei_tokens(text, row) for text, row in zip(full, tokens)])


def _tei_tokens(text: str, row) -> list[dict]:
    """Character offsets -> UTF-8 byte offsets of `text`, and the original text of each token."""
    starts = [0]
    for char in text:
        starts.append(starts[-1] + len(char.encode("utf-8")))
    out = []
    for t in row:
        if t.special:
            out.append({"id": t.id, "text": t.text, "special": True, "start": None, "stop": None})
        else:
            out.append({"id": t.id, "text": text[t.start:t.stop], "special": False,
                        "start": starts[min(t.start, len(text))], "stop": starts[min(t.stop, len(text))]})
    return out


@router.post("/decode")
async def decode(body: DecodeRequest, request: Request) -> Json:
    """Token ids of the default model's vocabulary back to text: one text per list of ids."""
    served = _served(request)
    rows = [body.ids] if all(isinstance(i, int) for i in body.ids) else body.ids
    count_inputs(len(rows), "ids", served.config.max_client_batch_size)
    size = served.engine.vocab_size
    for n, row in enumerate(rows):
        bad = next((i for i in row if not 0 <= i < size), None)
        if bad is not None:
            raise ApiError(422, f"ids[{n}] has token id {bad}, outside this model's vocabulary (0..{size - 1})", "ids")
    tokenizer = served.encoder.tokenizer
    return Json(await served.off_loop(tokenizer.batch_decode, rows, skip_special_tokens=body.skip_special_tokens))


@router.post("/")
async def root(request: Request) -> Json:
    """TEI's POST /: the route the body's shape and the model's kind select, as huggingface_hub's
    InferenceClient(base_url=...) and older langchain-huggingface call it: {"inputs": {"source_sentence",
    "sentences"}} -> /similarity, {"query", "texts"} -> /rerank, anything else -> /embed (the default
    model is a sentence encoder)."""
    try:
        data = await request.json()
    except (ValueError, RecursionError):
        raise ApiError(422, "the body is not valid JSON (UTF-8, not nested too deeply)") from None
    if isinstance(data, dict) and isinstance(data.get("inputs"), dict):
        return await similarity_route(_checked(SimilarityRequest, data), request)
    if isinstance(data, dict) and "query" in data and "texts" in data:
        return await rerank(_checked(RerankRequest, data), request)
    return await embed(_checked(EmbedRequest, data), request)


@router.post("/invocations")
async def invocations(request: Request) -> Json:
    """SageMaker's route, as TEI has it: the same as POST /."""
    return await root(request)


def _checked(model, data):
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise RequestValidationError(e.errors()) from None
