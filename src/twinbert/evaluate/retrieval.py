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
from .chunked import check_chunking, rank_by_chunks

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


def encode_roles(encoder, queries: Sequence[str], documents: Sequence[str],
                 options: dict) -> tuple[np.ndarray, np.ndarray]:
    """(query vectors, corpus vectors). A model that declares query and passage prompts gets them by
    role (twinbert.search.prompts); otherwise, or when the caller names a prompt, both sides are encoded
    in one call, texts shared by both once."""
    from ..search.prompts import role_kwargs

    given = {key: options.pop(key) for key in ("prompt_name", "prompt") if key in options}
    query_kwargs = role_kwargs(encoder, "query", **given)
    passage_kwargs = role_kwargs(encoder, "passage", **given)
    if query_kwargs == passage_kwargs:
        vectors, position = encode_unique(encoder, list(queries) + list(documents), {**options, **query_kwargs})
        return rows(vectors, position, queries), rows(vectors, position, documents)
    query_vectors, query_rows = encode_unique(encoder, queries, {**options, **query_kwargs})
    corpus_vectors, corpus_rows = encode_unique(encoder, documents, {**options, **passage_kwargs})
    return rows(query_vectors, query_rows, queries), rows(corpus_vectors, corpus_rows, documents)


def evaluate_retrieval(encoder, data, *, metric: str = "cosine", accuracy_at_k=DEFAULT_K["accuracy_at_k"],
                       precision_recall_at_k=DEFAULT_K["precision_recall_at_k"], mrr_at_k=DEFAULT_K["mrr_at_k"],
                       ndcg_at_k=DEFAULT_K["ndcg_at_k"], map_at_k=DEFAULT_K["map_at_k"],
                       index: str = "flat", index_params: dict | None = None, mode: str = "dense",
                       fusion_data=None, lexical=None, details: dict | None = None,
                       chunking: str | None = None, chunk_tokens: int | None = None, overlap: int | None = None,
                       **encode_options) -> dict[str, float]:
    """Retrieval evaluation of `encoder` on a collection (RetrievalData or a retrieval Dataset, e.g.
    load_task("cranfield", "test")). Returns {f"{metric}_{m}@{k}"}, e.g. "cosine_ndcg@10",
    "cosine_mrr@10", "cosine_map@100", "cosine_recall@100", "cosine_accuracy@1".

    Queries are encoded with the model's query prompt and documents with its passage prompt when it
    declares both (e5), else in one call (texts shared by both once). index="flat" searches
    exactly (twinbert.search.semantic_search, chunked); "hnsw" or "ivf" builds that approximate
    twinbert.search.Index over the documents (index_params: its backend parameters and
    recall_target) and ranks with it, to see what the approximation costs in retrieval quality.

    mode="lexical" ranks by BM25 over the documents (nothing encoded; keys "lexical_ndcg@10", ...),
    mode="hybrid" by the fusion of both (keys "hybrid_..."; twinbert.search.hybrid): the fusion is
    chosen by Index.tune_fusion on ``fusion_data`` (a collection over the same corpus, e.g. the dev
    split's queries) when given, else the default fusion. lexical: a
    twinbert.search.lexical.LexicalConfig (default: Kiwi morphemes for Korean, words otherwise).
    details: a dict filled with the mode, the lexical settings and the fusion (and its report).

    chunking="chunks" or "late" (dense only): each document is cut into chunks of up to chunk_tokens
    tokens with overlap (twinbert.chunking) and ranked by its best chunk (twinbert.evaluate.chunked);
    "none" (default) embeds each document whole, cut at max_seq_length."""
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
    relevant = [set(collection.relevant[q]) for q in query_ids]
    if check_chunking(chunking, chunk_tokens, overlap) != "none":  # long documents: twinbert.evaluate.chunked
        if mode != "dense" or index != "flat":
            raise InputError("chunking evaluates dense retrieval over a flat document index; leave mode and index "
                             "at their defaults", argument="chunking")
        rankings = rank_by_chunks(encoder, queries, corpus_ids, documents, max(max(v) for v in ks.values()),
                                  chunking=chunking, chunk_tokens=chunk_tokens, overlap=overlap, metric=metric,
                                  options=options, details=details)
        return {f"{metric}_{key}": value for key, value in retrieval_metrics(rankings, relevant, **ks).items()}
    if mode != "dense":
        if index != "flat":
            raise InputError(f"index={index!r} applies to mode='dense'; lexical and hybrid search the flat "
                             "index with a lexical part", argument="index")
        rankings = _rank_lexical_or_hybrid(encoder, (queries, corpus_ids, documents), mode, fusion_data, lexical,
                                           max(max(v) for v in ks.values()), options, details)
        return {f"{mode}_{key}": value for key, value in retrieval_metrics(rankings, relevant, **ks).items()}
    if fusion_data is not None or lexical is not None:
        raise InputError("fusion_data and lexical apply to mode='lexical' or 'hybrid'", argument="mode")
    if details is not None:
        details["mode"] = "dense"
    query_vectors, corpus_vectors = encode_roles(encoder, queries, documents, options)
    depth = max(max(v) for v in ks.values())
    if index == "flat":
        hits = semantic_search(query_vectors, corpus_vectors, top_k=depth, metric=metric)
    else:
        ann = Index.build(embeddings=corpus_vectors, metric=metric, backend=index, **(index_params or {}))
        hits = [[(hit["id"], hit["score"]) for hit in row] for row in ann.search(query_vectors, k=depth)]
    rankings = [[corpus_ids[i] for i, _ in sorted(row, key=lambda hit: (-hit[1], corpus_ids[hit[0]]))]
                for row in hits]
    values = retrieval_metrics(rankings, relevant, **ks)
    return {f"{metric}_{key}": value for key, value in values.items()}


def _rank_lexical_or_hybrid(encoder, corpus: tuple, mode: str, fusion_data, lexical, depth: int, options: dict,
                            details: dict | None) -> list[list[str]]:
    """Document ids ranked for each query by BM25 (mode lexical) or by an Index with a lexical part
    (mode hybrid, the fusion tuned on ``fusion_data``'s queries when given)."""
    from ..search import Index
    from ..search.fusion import DEFAULT
    from ..search.hybrid import MODES
    from ..search.lexical import LexicalConfig, LexicalIndex

    queries, corpus_ids, documents = corpus
    if mode not in MODES:
        raise InputError(f"mode={mode!r}: expected one of {', '.join(MODES)}", argument="mode")
    if mode == "lexical" and fusion_data is not None:
        raise InputError("fusion_data applies to mode='hybrid' (lexical search has nothing to fuse)",
                         argument="fusion_data")
    config = lexical if lexical is not None else LexicalConfig()
    if mode == "lexical":
        words = LexicalIndex.build(documents, config)
        if details is not None:
            details.update({"mode": mode, "lexical": words.record()})
        return [[corpus_ids[row] for row, _ in hits] for hits in words.search(queries, depth)]
    _, tune_queries, tune_relevant = _tuning_queries(fusion_data, corpus_ids)
    vectors, corpus_vectors = encode_roles(encoder, queries + tune_queries, documents, dict(options))
    ann = Index.build(texts=documents, embeddings=corpus_vectors, ids=corpus_ids, lexical=config,
                      model_name=getattr(encoder, "name", None))
    tuning = None
    if tune_queries:
        tuning = ann.tune_fusion(tune_queries, tune_relevant, query_embeddings=vectors[len(queries):])
    hits = ann.search(queries, k=depth, mode=mode, query_embeddings=vectors[:len(queries)])
    if details is not None:
        fusion = (ann.fusion or DEFAULT).to_dict()
        details.update({"mode": mode, "lexical": ann.lexical.record(),
                        "fusion": {**fusion, "chosen_by": "tune_fusion" if tuning else "default",
                                   **({"report": tuning} if tuning else {})}})
    return [[hit["id"] for hit in row] for row in hits]


def _tuning_queries(fusion_data, corpus_ids: list[str]) -> tuple[list[str], list[str], list[list[str]]]:
    """(ids, texts, relevant ids) of the queries the fusion is tuned on; their corpus must be the
    evaluated one (the fusion is an index's, and the index is this corpus)."""
    if fusion_data is None:
        return [], [], []
    tune_ids, tune_texts, tune_corpus, _ = check_collection(fusion_data)
    if tune_corpus != corpus_ids:
        raise InputError(f"{describe(fusion_data)}: its corpus differs from the evaluated one; the fusion is tuned "
                         "on queries over the same documents (e.g. the dev split of the same task)",
                         argument="fusion_data")
    collection = as_collection(fusion_data)
    return tune_ids, tune_texts, [sorted(collection.relevant[q]) for q in tune_ids]


__all__ = ["evaluate_retrieval", "retrieval_metrics", "check_collection", "DEFAULT_K", "MAIN_METRIC"]
