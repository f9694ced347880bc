"""Paraphrase mining: the best-scoring pairs among N sentences, without an N x N matrix.

Semantics (the same as sentence-transformers' ``util.paraphrase_mining``):

1. every sentence i proposes its ``top_k`` nearest OTHER sentences j as candidate pairs;
2. a pair proposed from both sides is kept once, as ``(score, min(i, j), max(i, j))``,
   with the score computed from the lower index's side;
3. the ``max_pairs`` best candidates are returned, best first.

So a pair is missed only if neither sentence has the other among its ``top_k`` neighbours.
Empty and whitespace-only sentences are skipped (they would all encode alike and pair with each
other at score 1.0); the result counts them in ``skipped_empty``.
Memory: the score block is ``query_chunk_size x corpus_chunk_size``; the candidate pool is
compacted (deduplicated and cut to ``max_pairs``) whenever it outgrows ``2 * max_pairs``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..checks import positive_int
from ..errors import InputError
from ..similarity import as_embedding_matrix, check_metric
from .exact import chunked_topk

DEFAULT_MAX_PAIRS = 500_000
DEFAULT_QUERY_CHUNK_SIZE = 1024
DEFAULT_CORPUS_CHUNK_SIZE = 16384


class MinedPairs(list):
    """The ``(score, i, j)`` triples, plus ``skipped_empty``: how many empty or whitespace-only
    sentences were left out (their positions never appear in a pair)."""

    def __init__(self, pairs=(), skipped_empty: int = 0):
        super().__init__(pairs)
        self.skipped_empty = skipped_empty


def _is_texts(x: Any) -> bool:
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(s, str) for s in x)


def _compact(scores: np.ndarray, lo: np.ndarray, hi: np.ndarray, from_hi: np.ndarray, n: int,
             max_pairs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Keep each pair once (preferring the lower index's side), then the best ``max_pairs``,
    sorted best first, ties by (lo, hi)."""
    key = lo * n + hi
    order = np.lexsort((from_hi, key))
    first = np.ones(len(order), dtype=bool)
    first[1:] = key[order[1:]] != key[order[:-1]]
    keep = order[first]
    scores, lo, hi, from_hi = scores[keep], lo[keep], hi[keep], from_hi[keep]
    best = np.lexsort((hi, lo, -scores))[:max_pairs]
    return scores[best], lo[best], hi[best], from_hi[best]


def paraphrase_mining(sentences_or_embeddings: Any, top_k: int = 100, *, encoder: Any = None,
                      metric: str = "cosine", max_pairs: int = DEFAULT_MAX_PAIRS,
                      query_chunk_size: int = DEFAULT_QUERY_CHUNK_SIZE,
                      corpus_chunk_size: int = DEFAULT_CORPUS_CHUNK_SIZE,
                      encode_kwargs: dict[str, Any] | None = None) -> MinedPairs:
    """Find the most similar pairs among N sentences (or N embeddings).

    Args:
        sentences_or_embeddings: a list of strings (needs ``encoder``, anything with
            ``encode(list_of_str) -> [n, dim]``) or embeddings ``[n, dim]`` (numpy or torch).
        top_k: candidate neighbours per sentence (see the module docstring).
        encoder: the encoder for string input; ignored for embeddings.
        metric: ``cosine``, ``dot``, ``euclidean`` or ``manhattan`` (distances give negative
            scores, higher = more similar).
        max_pairs: at most this many pairs are returned.
        query_chunk_size, corpus_chunk_size: bound the score block held at once.
        encode_kwargs: passed to ``encoder.encode`` (e.g. ``batch_tokens``, ``pooling``).

    Returns:
        A :class:`MinedPairs` list of ``(score, i, j)`` triples with ``i < j`` (positions in the
        input), best first (equal scores by ``(i, j)``), no duplicates and no self-pairs; its
        ``skipped_empty`` counts the empty sentences left out. Fewer than two sentences give ``[]``.
    """
    metric = check_metric(metric)
    top_k = positive_int(top_k, "top_k")
    max_pairs = positive_int(max_pairs, "max_pairs")
    query_chunk_size = positive_int(query_chunk_size, "query_chunk_size")
    corpus_chunk_size = positive_int(corpus_chunk_size, "corpus_chunk_size")

    data = sentences_or_embeddings
    kept = None  # input positions of the rows mined, when empty sentences were left out
    if _is_texts(data):
        if encoder is None:
            raise InputError("paraphrase_mining got sentences (strings) but no encoder; pass "
                             "encoder=twinbert.load(...) or give embeddings instead", argument="encoder")
        kept = [i for i, text in enumerate(data) if text.strip()]
        skipped = len(data) - len(kept)
        if len(kept) < 2:
            return MinedPairs([], skipped)
        data = encoder.encode([data[i] for i in kept], **(encode_kwargs or {}))
    elif isinstance(data, (list, tuple)) and len(data) == 0:
        return MinedPairs()
    else:
        skipped = 0
    embeddings, _ = as_embedding_matrix(data, "sentences_or_embeddings")
    n = embeddings.shape[0]
    if n < 2:
        return MinedPairs([], skipped)
    k = min(top_k, n - 1)

    pool: list[tuple[np.ndarray, ...]] = []
    pool_size = 0
    for q_start, values, indices in chunked_topk(embeddings, embeddings, k, metric,
                                                 query_chunk_size, corpus_chunk_size,
                                                 exclude_self=True):
        values, indices = values[:, :k].cpu().numpy(), indices[:, :k].cpu().numpy()
        query = np.arange(q_start, q_start + len(indices), dtype=np.int64)[:, None]
        query = np.broadcast_to(query, indices.shape)
        real = indices != query
        i, j, s = query[real], indices[real].astype(np.int64), values[real]
        pool.append((s, np.minimum(i, j), np.maximum(i, j), i > j))
        pool_size += len(s)
        if pool_size > 2 * max_pairs:
            pool = [_compact(*map(np.concatenate, zip(*pool)), n, max_pairs)]
            pool_size = len(pool[0][0])
    scores, lo, hi, _ = _compact(*map(np.concatenate, zip(*pool)), n, max_pairs)
    if kept is not None and skipped:  # back to input positions (kept is increasing: order holds)
        positions = np.asarray(kept, dtype=np.int64)
        lo, hi = positions[lo], positions[hi]
    return MinedPairs(zip(scores.tolist(), lo.tolist(), hi.tolist()), skipped)

