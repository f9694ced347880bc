"""Search routes (with --index): POST /search, and POST /index/add with --allow-writes; POST /compare
(poolings side by side, for the page).

/search: `query` or `queries`, `k`, `mode` (dense, lexical or hybrid), optional `rerank` through the cross-encoder (the index's k best hits
rescored, via twinbert.search.search_and_rerank). /index/add appends texts and saves the index folder
atomically; on any failure the index on disk and in memory stays as it was.
"""
from __future__ import annotations

from fastapi import APIRouter, Request

from ..compare import compare
from ..search.rerank import search_and_rerank
from .errors import ApiError
from .inputs import count_inputs
from .jsonout import Json
from .schemas import CompareRequest, IndexAddRequest, SearchRequest

router = APIRouter(tags=["search"])


@router.post("/search")
async def search(body: SearchRequest, request: Request) -> Json:
    served = request.app.state.served
    index = served.need("index", "--index", "/search")
    if (body.query is None) == (body.queries is None):
        raise ApiError(422, "send either query (a text) or queries (a list of texts)", "query")
    queries = [body.query] if body.query is not None else body.queries
    count_inputs(len(queries), "queries", served.config.max_client_batch_size)
    if body.rerank:
        cross = served.need("cross_encoder", "--cross-encoder", "rerank=true")
        hits = await served.batcher.call(lambda: search_and_rerank(index, queries, cross, k=body.k,
                                                                   candidates=max(body.k, 20),
                                                                   encoder=served.encoder, mode=body.mode))
    else:
        hits = await served.batcher.call(lambda: index.search(queries, k=body.k, encoder=served.encoder,
                                                              mode=body.mode))
    fields = ("rank", "id", "text", "score", "first_stage_score")
    results = [[{f: hit[f] for f in fields if f in hit} for hit in row] for row in hits]
    return Json({"results": results[0]} if body.query is not None else {"results": results})


@router.post("/index/add")
async def index_add(body: IndexAddRequest, request: Request) -> Json:
    served = request.app.state.served
    served.need("index", "--index", "/index/add")
    if not served.config.allow_writes:
        raise ApiError(403, "the index is read-only: start the server with --allow-writes to add to it")
    count_inputs(len(body.texts), "texts", served.config.max_client_batch_size)
    if body.ids is not None and len(body.ids) != len(body.texts):
        raise ApiError(422, f"ids has {len(body.ids)} values for {len(body.texts)} texts", "ids")
    ids = await served.batcher.call(lambda: served.add_to_index(body.texts, body.ids))
    return Json({"added": len(ids), "ids": ids, "count": len(served.index)})


@router.post("/compare")
async def compare_route(body: CompareRequest, request: Request) -> Json:
    served = request.app.state.served
    count_inputs(len(body.sentences), "sentences", served.config.max_client_batch_size)
    result = await served.batcher.call(lambda: compare({served.name: served.encoder}, body.sentences, body.poolings))
    return Json(result)
