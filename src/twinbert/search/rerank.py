"""Retrieve and rerank: the index finds candidates fast, a cross-encoder orders them well.

A bi-encoder compares vectors made one text at a time, so it searches millions of rows in
milliseconds; a cross-encoder reads the query and a candidate together and ranks better, but costs a
model call per pair. So the index's top ``candidates`` hits for each query are rescored by the
cross-encoder (twinbert.bert.CrossEncoder, or anything with its ``rerank``), and the best ``k`` kept:
the retrieve-and-rerank pipeline of sentence-transformers' examples.
"""
from __future__ import annotations

from typing import Any

from ..checks import positive_int
from ..errors import InputError


def search_and_rerank(index: Any, queries: str | list[str], cross_encoder: Any, k: int | None = 10,
                      candidates: int = 20, *, encoder: Any = None, label: str | None = None,
                      force: bool = False, batch_tokens: int | None = None,
                      mode: str = "dense") -> list[list[dict[str, Any]]]:
    """Search ``index`` for each query, then order its ``candidates`` best hits by ``cross_encoder``.

    Args:
        index: a twinbert.search.Index built with texts (the cross-encoder reads them).
        queries: one query text or a list of them.
        cross_encoder: scores (query, candidate) pairs: ``cross_encoder.rerank(query, hits, ...)``.
        k: reranked hits kept per query (None: all the candidates).
        candidates: hits taken from the index per query (first stage).
        encoder: encodes the queries for the index (default: the encoder the index was built with).
        label: a classification cross-encoder ranks by the probability of this label.
        force, batch_tokens: passed to ``Index.search`` and ``rerank``.
        mode: the first stage's search mode (``Index.search``: dense, lexical or hybrid).

    Returns:
        One list per query (also for a single query), best first, of the cross-encoder's hits:
        ``{"rank", "index", "id", "text", "score", "first_stage_score"}``.
    """
    candidates = positive_int(candidates, "candidates")
    k = positive_int(k, "k", allow_none=True)
    texts = [queries] if isinstance(queries, str) else list(queries)
    if not texts or not all(isinstance(q, str) for q in texts):
        raise InputError("queries must be a query text or a non-empty list of them", argument="queries")
    hits = index.search(texts, k=candidates, encoder=encoder, force=force, mode=mode)
    return [cross_encoder.rerank(query, first_stage, top_k=k, label=label, batch_tokens=batch_tokens)
            for query, first_stage in zip(texts, hits)]


__all__ = ["search_and_rerank"]
