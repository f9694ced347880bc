"""Exact top-k search over embeddings, chunked so memory stays bounded.

The corpus is scanned in chunks of ``corpus_chunk_size`` rows for each chunk of
``query_chunk_size`` queries; each query keeps a running top-k that is merged with the
top-k of every new corpus chunk. The largest score matrix ever held is
``query_chunk_size x corpus_chunk_size``, so a 1M x 384 corpus is searched without a
1M x n_queries matrix.

Scores are twinbert.similarity's: higher always means more similar (euclidean and manhattan give
the NEGATIVE distance). Ties are broken by the lower corpus index first, whatever the chunk sizes.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from ..checks import positive_int
from ..errors import InputError
from ..formats.mapped import mapped_blocks
from ..similarity import as_embedding_matrix, check_metric, pairwise_scores, score_matrix

DEFAULT_QUERY_CHUNK_SIZE = 256
DEFAULT_CORPUS_CHUNK_SIZE = 65536

# Largest number of floats gathered at once when re-scoring euclidean candidates exactly.
_RESCORE_BLOCK = 1 << 22


def _sort_rows(values: torch.Tensor, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sort each row best first, equal scores by lower index first."""
    indices, perm = torch.sort(indices, dim=1, stable=True)
    values = values.gather(1, perm)
    values, perm = torch.sort(values, dim=1, descending=True, stable=True)
    return values, indices.gather(1, perm)


def _topk_stable(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-wise top-k where ties at the k-th place go to the lower column index."""
    if k == scores.shape[1]:
        return _sort_rows(*torch.topk(scores, k, dim=1))
    # one extra place shows whether the k-th score is tied with a row left out
    values, indices = torch.topk(scores, k + 1, dim=1)
    crowded = values[:, k] == values[:, k - 1]
    values, indices = values[:, :k].contiguous(), indices[:, :k].contiguous()
    if bool(crowded.any()):
        rows = crowded.nonzero().flatten()
        # a stable descending sort keeps equal scores in column order
        sub_values, sub_indices = torch.sort(scores[rows], dim=1, descending=True, stable=True)
        values[rows] = sub_values[:, :k]
        indices[rows] = sub_indices[:, :k]
    return _sort_rows(values, indices)


def _merge(values: torch.Tensor, indices: torch.Tensor, new_values: torch.Tensor,
           new_indices: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge two row-sorted top-k lists; every index in the first is lower than in the second."""
    all_values = torch.cat([values, new_values], dim=1)
    all_indices = torch.cat([indices, new_indices], dim=1)
    all_values, perm = torch.sort(all_values, dim=1, descending=True, stable=True)
    return all_values[:, :k], all_indices.gather(1, perm[:, :k])


def _rescore_euclidean(q: torch.Tensor, corpus: torch.Tensor,
                       indices: torch.Tensor) -> torch.Tensor:
    k, dim = indices.shape[1], q.shape[1]
    step = max(1, _RESCORE_BLOCK // max(1, k * dim))
    out = torch.empty(indices.shape, dtype=q.dtype, device=q.device)
    for start in range(0, len(q), step):
        idx = indices[start:start + step]
        candidates = corpus[idx.flatten()].view(*idx.shape, dim)
        out[start:start + step] = pairwise_scores(q[start:start + step, None, :], candidates, "euclidean")
    return out


def chunked_topk(queries: torch.Tensor, corpus: torch.Tensor, k: int, metric: str,
                 query_chunk_size: int, corpus_chunk_size: int,
                 exclude_self: bool = False) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Yield ``(query_start, values, indices)`` per query chunk, each ``[chunk, k']`` with
    ``k' = min(k, len(corpus))``, rows best first and ties by lower corpus index.

    With ``exclude_self`` the queries ARE the corpus and query i never scores itself
    (its own entry gets -inf, so it only shows up if fewer than k others exist).
    """
    n = corpus.shape[0]
    k = min(k, n)
    for q_start in range(0, queries.shape[0], query_chunk_size):
        q = queries[q_start:q_start + query_chunk_size]
        best_values = best_indices = None
        for c_start in range(0, n, corpus_chunk_size):
            c = corpus[c_start:c_start + corpus_chunk_size]
            # the fast euclidean expansion: the top-k are re-scored exactly below
            scores = score_matrix(q, c, metric, exact=False)
            if exclude_self:
                lo, hi = max(q_start, c_start), min(q_start + len(q), c_start + len(c))
                if lo < hi:
                    own = torch.arange(lo, hi, device=scores.device)
                    scores[own - q_start, own - c_start] = float("-inf")
            values, indices = _topk_stable(scores, min(k, len(c)))
            indices += c_start
            if best_values is None:
                best_values, best_indices = values, indices
            else:
                best_values, best_indices = _merge(best_values, best_indices, values, indices, k)
        if metric == "euclidean":
            best_values = _rescore_euclidean(q, corpus, best_indices)
            best_values, best_indices = _sort_rows(best_values, best_indices)
        yield q_start, best_values, best_indices


def semantic_search(query_embeddings: Any, corpus_embeddings: Any, top_k: int = 10,
                    metric: str = "cosine", query_chunk_size: int = DEFAULT_QUERY_CHUNK_SIZE,
                    corpus_chunk_size: int = DEFAULT_CORPUS_CHUNK_SIZE) -> list[list[tuple[int, float]]]:
    """Exact nearest neighbours of each query in the corpus.

    Args:
        query_embeddings: ``[n_queries, dim]`` or a single ``[dim]`` vector (numpy, torch or lists).
        corpus_embeddings: ``[n_corpus, dim]``; not copied when already float32/float64.
        top_k: hits per query (fewer when the corpus is smaller).
        metric: ``cosine``, ``dot``, ``euclidean`` or ``manhattan``. For the two distances the
            score is the NEGATIVE distance, so higher is always more similar.
        query_chunk_size, corpus_chunk_size: the score matrix held at once is at most
            ``query_chunk_size x corpus_chunk_size`` (64 MiB with the defaults, float32).

    Returns:
        One list per query (also for a single 1-D query, as sentence-transformers does) of
        ``(corpus_index, score)`` tuples, best first; equal scores list the lower index first.
    """
    metric = check_metric(metric)
    top_k = positive_int(top_k, "top_k")
    query_chunk_size = positive_int(query_chunk_size, "query_chunk_size")
    corpus_chunk_size = positive_int(corpus_chunk_size, "corpus_chunk_size")
    corpus, _ = as_embedding_matrix(corpus_embeddings, "corpus_embeddings")
    queries, _ = as_embedding_matrix(query_embeddings, "query_embeddings", dtype=corpus.dtype)
    if corpus.shape[0] == 0:
        raise InputError("corpus_embeddings is empty; semantic_search needs at least one corpus vector")
    if queries.shape[1] != corpus.shape[1]:
        raise InputError(f"query_embeddings have dimension {queries.shape[1]} but corpus_embeddings "
                         f"have dimension {corpus.shape[1]}; both must come from the same model")
    return search_checked(queries.to(corpus.device), corpus, top_k, metric, query_chunk_size, corpus_chunk_size)


def search_checked(queries: torch.Tensor, corpus: torch.Tensor, top_k: int, metric: str,
                   query_chunk_size: int = DEFAULT_QUERY_CHUNK_SIZE,
                   corpus_chunk_size: int = DEFAULT_CORPUS_CHUNK_SIZE) -> list[list[tuple[int, float]]]:
    """semantic_search on matrices already checked (finite, same dimension, dtype and device): the
    Index searches its stored vectors with it, which need no second pass per query."""
    results: list[list[tuple[int, float]]] = []
    for _, values, indices in chunked_topk(queries, corpus, top_k, metric,
                                           query_chunk_size, corpus_chunk_size):
        for row_values, row_indices in zip(values.tolist(), indices.tolist()):
            results.append(list(zip(row_indices, row_values)))
    return results


def mapped_search(queries: np.ndarray, vectors: np.ndarray, top_k: int, metric: str,
                  rows: int | None = None) -> list[list[tuple[int, float]]]:
    """semantic_search over ``vectors`` read with :func:`mapped_blocks`: the same answer, ties by lower row
    first, with the RSS of one block for a memory-mapped corpus (an array in memory: one semantic_search,
    which chunks it itself)."""
    if getattr(vectors, "_mmap", None) is None:
        return semantic_search(queries, vectors, top_k=top_k, metric=metric)
    merged: list[list[tuple[int, float]]] = [[] for _ in range(len(queries))]
    for start, block in mapped_blocks(vectors, rows):
        for q, row in enumerate(semantic_search(queries, block, top_k=top_k, metric=metric)):
            merged[q] = sorted(merged[q] + [(start + i, score) for i, score in row], key=lambda h: (-h[1], h[0]))[:top_k]
    return merged
