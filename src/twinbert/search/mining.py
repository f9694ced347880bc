"""Paraphrase mining: the best-scoring pairs among N sentences, without an N x N matrix.

Semantics (the same as sentence-transformers' ``util.paraphrase_mining``):

1. every sentence i proposes its ``top_k`` nearest OTHER sentences j as candidate pairs;
2. a pair proposed from both sides is kept once, as ``(score, min(i, j), max(i, j))``,
   with the score computed from the lower index's side;
3. the ``max_pairs`` best candidates are returned, best first.

So a pair is missed only if neither sentence has the other among its ``top_k`` neighbours.
Memory: the score block is ``query_chunk_size x corpus_chunk_size``; the candidate pool is
compacted (deduplicated and cut to ``max_pairs``) whenever it outgrows ``2 * max_pairs``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twinbert.errors import InputError
from twinbert.search.exact import as_embedding_matrix, check_metric, check_positive_int, chunked_topk

DEFAULT_MAX_PAIRS = 500_000
DEFAULT_QUERY_CHUNK_SIZE = 1024
DEFAULT_CORPUS_CHUNK_SIZE = 16384


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
                      corpus_chunk_size: int = DEFAULT_CORPUS_CHUNK_SIZE) -> list[tuple[float, int, int]]:
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

    Returns:
        ``(score, i, j)`` triples with ``i < j``, best first (equal scores by ``(i, j)``),
        no duplicates and no self-pairs. Fewer than two sentences give ``[]``.
    """
    metric = check_metric(metric)
    top_k = check_positive_int(top_k, "top_k")
    max_pairs = check_positive_int(max_pairs, "max_pairs")
    query_chunk_size = check_positive_int(query_chunk_size, "query_chunk_size")
    corpus_chunk_size = check_positive_int(corpus_chunk_size, "corpus_chunk_size")

    data = sentences_or_embeddings
    if _is_texts(data):
        if encoder is None:
            raise InputError("paraphrase_mining got sentences (strings) but no encoder; pass "
                             "encoder=twinbert.load(...) or give embeddings instead")
        data = encoder.encode(list(data))
    elif isinstance(data, (list, tuple)) and len(data) == 0:
        return []
    embeddings, _ = as_embedding_matrix(data, "sentences_or_embeddings")
    n = embeddings.shape[0]
    if n < 2:
        return []
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
    return list(zip(scores.tolist(), lo.tolist(), hi.tolist()))

