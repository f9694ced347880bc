"""Retrieval: rank the corpus for each query by the similarity of their vectors (exact search,
twinbert.search.semantic_search, or an approximate twinbert.search.Index) and score the ranking
against the relevance judgements.

Binary relevance (a judged document is relevant whatever its grade), the definitions of
sentence-transformers' InformationRetrievalEvaluator, averaged over the queries that have at least
one relevant document; hits are ordered by score, ties by document id (as strings):

  accuracy@k   1 if a relevant document is among the top k, else 0
  precision@k  relevant documents in the top k / k
  recall@k     relevant documents in the top k / all relevant documents of the query
  mrr@k        1 / rank of the first relevant document in the top k (0 if none)
  ndcg@k       DCG@k / IDCG@k, DCG@k = sum over ranks i = 1..k of rel_i / log2(i + 1), the ideal
               ranking putting all the query's relevant documents first
  map@k        sum over the relevant documents at ranks i <= k of precision@i, divided by
               min(k, number of relevant documents)
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from ._common import check_encode_options, check_similarities, describe, encode_unique, rows

MAIN_METRIC = "cosine_ndcg@10"
DEFAULT_K = {"accuracy_at_k": (1, 3, 5, 10), "precision_recall_at_k": (1, 3, 5, 10, 100),
             "mrr_at_k": (10,), "ndcg_at_k": (10,), "map_at_k": (100,)}


def _ks(values, name: str) -> tuple[int, ...]:
    values = tuple(values)
    if not values or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 for k in values):
        raise InputError(f"{name} must be a non-empty list of positive integers, got {values!r}")
    return values


def retrieval_metrics(rankings: Sequence[Sequence[str]], relevant: Sequence[set], *,
                      accuracy_at_k=DEFAULT_K["accuracy_at_k"],
                      precision_recall_at_k=DEFAULT_K["precision_recall_at_k"],
                      mrr_at_k=DEFAULT_K["mrr_at_k"], ndcg_at_k=DEFAULT_K["ndcg_at_k"],
                      map_at_k=DEFAULT_K["map_at_k"]) -> dict[str, float]:
    """Ranking metrics (see the module docstring) of ranked document ids, best first, one list per
    query, against each query's set of relevant ids. Keys: "accuracy@1", "precision@10",
    "recall@10", "mrr@10", "ndcg@10", "map@100", ..."""
    if len(rankings) != len(relevant) or not rankings:
        raise InputError(f"retrieval_metrics needs one ranking per query and at least one query, got "
                         f"{len(rankings)} rankings and {len(relevant)} relevance sets")
    sums: dict[str, float] = {}

    def add(key: str, value: float) -> None:
        sums[key] = sums.get(key, 0.0) + value

    for ranked, rel in zip(rankings, relevant):
        if not rel:
            raise InputError("retrieval_metrics: a query without relevant documents; leave such queries out")
        hits = np.fromiter((doc in rel for doc in ranked), dtype=bool, count=len(ranked))
        for k in _ks(accuracy_at_k, "accuracy_at_k"):
            add(f"accuracy@{k}", float(hits[:k].any()))
        for k in _ks(precision_recall_at_k, "precision_recall_at_k"):
            found = float(hits[:k].sum())
            add(f"precision@{k}", found / k)
            add(f"recall@{k}", found / len(rel))
        for k in _ks(mrr_at_k, "mrr_at_k"):
            first = np.flatnonzero(hits[:k])
            add(f"mrr@{k}", 1.0 / (first[0] + 1) if len(first) else 0.0)
        for k in _ks(ndcg_at_k, "ndcg_at_k"):
            discounts = 1.0 / np.log2(np.arange(2, k + 2))
            dcg = float((hits[:k] * discounts[:len(hits[:k])]).sum())
            ideal = float(discounts[:min(len(rel), k)].sum())
            add(f"ndcg@{k}", dcg / ideal)
        for k in _ks(map_at_k, "map_at_k"):
            top = hits[:k]
            precision_at_hit = np.cumsum(top)[top] / (np.flatnonzero(top) + 1)
            add(f"map@{k}", float(precision_at_hit.sum()) / min(k, len(rel)))
    order = ["accuracy", "precision", "recall", "mrr", "ndcg", "map"]
    keys = sorted(sums, key=lambda key: (order.index(key.split("@")[0]), int(key.split("@")[1])))
    return {key: sums[key] / len(rankings) for key in keys}


def as_collection(data):
    """The RetrievalData of a retrieval Dataset, or the RetrievalData itself."""
    if hasattr(data, "queries") and hasattr(data, "corpus") and hasattr(data, "relevant"):
        return data
    if hasattr(data, "retrieval"):
        return data.retrieval
    raise InputError(f"retrieval data: expected a RetrievalData or a retrieval Dataset such as cranfield, "
                     f"got {type(data).__name__}")


def check_collection(data) -> tuple[list[str], list[str], list[str], list[str]]:
    """(query ids with relevant documents, their texts, corpus ids, corpus texts), or InputError."""
    collection = as_collection(data)
    where = describe(data)
    query_ids = [qid for qid in collection.queries if collection.relevant.get(qid)]
    if not query_ids:
        raise InputError(f"{where}: no query has a relevant document; retrieval metrics need relevance judgements")
    if not collection.corpus:
        raise InputError(f"{where}: the corpus is empty")
    corpus_ids = list(collection.corpus)
    return (query_ids, [collection.queries[q] for q in query_ids], corpus_ids,
            [collection.corpus[c] for c in corpus_ids])


def evaluate_retrieval(encoder, data, *, metric: str = "cosine", accuracy_at_k=DEFAULT_K["accuracy_at_k"],
                       precision_recall_at_k=DEFAULT_K["precision_recall_at_k"], mrr_at_k=DEFAULT_K["mrr_at_k"],
                       ndcg_at_k=DEFAULT_K["ndcg_at_k"], map_at_k=DEFAULT_K["map_at_k"],
                       index: str = "flat", index_params: dict | None = None,
                       **encode_options) -> dict[str, float]:
    """Retrieval evaluation of `encoder` on a collection (RetrievalData or a retrieval Dataset, e.g.
    load_task("cranfield", "test")). Returns {f"{metric}_{m}@{k}"}, e.g. "cosine_ndcg@10",
    "cosine_mrr@10", "cosine_map@100", "cosine_recall@100", "cosine_accuracy@1".

    Queries and documents are encoded in one call (texts shared by both once). index="flat" searches
    exactly (twinbert.search.semantic_search, chunked); "hnsw" or "ivf" builds that approximate
    twinbert.search.Index over the documents (index_params: its backend parameters and
    recall_target) and ranks with it, to see what the approximation costs in retrieval quality."""
    from ..search import Index, semantic_search

    options = check_encode_options(encode_options)
    (metric,) = check_similarities((metric,))
    if index not in ("flat", "hnsw", "ivf"):
        raise InputError(f"index={index!r}: expected flat (exact), hnsw or ivf")
    if index == "flat" and index_params:
        raise InputError("index_params apply to the approximate indexes (hnsw, ivf); flat takes none")
    ks = {"accuracy_at_k": _ks(accuracy_at_k, "accuracy_at_k"),
          "precision_recall_at_k": _ks(precision_recall_at_k, "precision_recall_at_k"),
          "mrr_at_k": _ks(mrr_at_k, "mrr_at_k"), "ndcg_at_k": _ks(ndcg_at_k, "ndcg_at_k"),
          "map_at_k": _ks(map_at_k, "map_at_k")}
    collection = as_collection(data)
    query_ids, queries, corpus_ids, documents = check_collection(data)
    vectors, position = encode_unique(encoder, queries + documents, options)
    query_vectors, corpus_vectors = rows(vectors, position, queries), rows(vectors, position, documents)
    depth = max(max(v) for v in ks.values())
    if index == "flat":
        hits = semantic_search(query_vectors, corpus_vectors, top_k=depth, metric=metric)
    else:
        ann = Index.build(embeddings=corpus_vectors, metric=metric, backend=index, **(index_params or {}))
        hits = [[(hit["id"], hit["score"]) for hit in row] for row in ann.search(query_vectors, k=depth)]
    rankings = [[corpus_ids[i] for i, _ in sorted(row, key=lambda hit: (-hit[1], corpus_ids[hit[0]]))]
                for row in hits]
    relevant = [set(collection.relevant[q]) for q in query_ids]
    values = retrieval_metrics(rankings, relevant, **ks)
    return {f"{metric}_{key}": value for key, value in values.items()}


__all__ = ["evaluate_retrieval", "retrieval_metrics", "check_collection", "DEFAULT_K", "MAIN_METRIC"]
