"""The lexical and hybrid search of an Index (twinbert.search.index): the candidates of both sides
with both scores, fused (twinbert.search.fusion); and the fusion chosen on queries with known answers.

An index searches in one of three modes: ``dense`` (its vectors), ``lexical`` (BM25 over its texts,
twinbert.search.lexical) or ``hybrid`` (both, fused by the index's fusion).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .fusion import DEFAULT, Fusion, fuse
from .fusion import tune as choose_fusion
from .lexical import LexicalConfig, LexicalIndex, top_k

MODES = ("dense", "lexical", "hybrid")


def check_mode(mode: str, lexical: LexicalIndex | None) -> str:
    if mode not in MODES:
        raise InputError(f"mode={mode!r}: expected one of {', '.join(MODES)}", argument="mode")
    if mode != "dense" and lexical is None:
        raise InputError(f"mode={mode!r} needs the index's lexical part; build the index with lexical=True "
                         "(twinbert index build --lexical)", argument="mode")
    return mode


def text_queries(queries: Any, mode: str) -> list[str]:
    """The queries as a list of texts; lexical and hybrid search need texts to analyse."""
    if isinstance(queries, str):
        return [queries]
    if isinstance(queries, (list, tuple)) and all(isinstance(q, str) for q in queries):
        return list(queries)
    raise InputError(f"mode={mode!r} searches with query texts (the lexical part analyses them); "
                     "got embeddings", argument="mode")

def tuning_queries(queries, lexical, k, depth) -> list[str]:
    """The query texts of a tune_fusion call, its mode, queries, k and depth checked (every index kind)."""
    check_mode("hybrid", lexical)
    texts = text_queries(queries, "hybrid")
    if not texts:
        raise InputError("tune_fusion: no queries; give queries with their relevant ids", argument="queries")
    for name, value in (("k", k), ("depth", depth)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"tune_fusion: {name}={value!r}; expected a positive integer", argument=name)
    return texts


def candidates(dense_rows: list[list[tuple[int, float]]], exact: Any, lexical: LexicalIndex,
               queries: Sequence[str], depth: int) -> tuple[np.ndarray, ...]:
    """(rows, dense scores, lexical scores, mask), each [queries, candidates], padded: for each query
    the union of its dense top ``depth`` (``dense_rows``: (row, score) lists) and its lexical top
    ``depth``, with both scores of every candidate (``exact(query index, rows)``: the dense scores of
    rows the dense side did not return)."""
    found = []
    for q, term_ids in enumerate(lexical.query_terms(queries)):
        bm25 = lexical.scores(term_ids)
        dense = dict(dense_rows[q])
        extra = [row for row, _ in top_k(bm25, depth) if row not in dense]
        if extra:
            dense.update(zip(extra, exact(q, np.asarray(extra, dtype=np.int64)).tolist()))
        rows = np.fromiter(dense, dtype=np.int64, count=len(dense))
        found.append((rows, np.fromiter(dense.values(), dtype=np.float64, count=len(dense)), bm25[rows]))
    width = max((len(r) for r, _, _ in found), default=0)
    out_rows = np.full((len(found), width), -1, np.int64)
    out_dense, out_lexical = np.zeros((len(found), width)), np.zeros((len(found), width))
    for q, (rows, dense, bm25) in enumerate(found):
        out_rows[q, :len(rows)], out_dense[q, :len(rows)], out_lexical[q, :len(rows)] = rows, dense, bm25
    return out_rows, out_dense, out_lexical, out_rows >= 0


def hybrid_hits(rows: np.ndarray, dense: np.ndarray, lexical: np.ndarray, mask: np.ndarray,
                fusion: Fusion, k: int) -> list[list[tuple[int, float]]]:
    """The ``k`` best candidates of each query by fused score, best first (ties by row)."""
    fused = fuse(dense, lexical, mask, fusion)
    hits = []
    for q in range(len(rows)):
        valid = np.flatnonzero(mask[q])
        order = valid[np.lexsort((rows[q, valid], -fused[q, valid]))][:k]
        hits.append([(int(rows[q, i]), float(fused[q, i])) for i in order])
    return hits


def relevance(rows: np.ndarray, ids: list, relevant: Sequence[Sequence[Any]], id_rows: dict) -> tuple[np.ndarray, ...]:
    """(relevant [queries, candidates] bool, number of relevant rows per query) for tune_fusion;
    every relevant id must be one of the index's."""
    if len(relevant) != len(rows):
        raise InputError(f"tune_fusion: {len(rows)} queries but {len(relevant)} lists of relevant ids; give one "
                         "list per query", argument="relevant")
    flags = np.zeros(rows.shape, bool)
    counts = np.zeros(len(rows), np.int64)
    for q, wanted in enumerate(relevant):
        if isinstance(wanted, (str, int)):
            wanted = [wanted]
        wanted = set(wanted)
        unknown = [w for w in wanted if w not in id_rows]
        if unknown:
            raise InputError(f"tune_fusion: relevant[{q}] names id {unknown[0]!r}, which is not in the index",
                             argument="relevant")
        if not wanted:
            raise InputError(f"tune_fusion: relevant[{q}] is empty; every query needs at least one relevant id",
                             argument="relevant")
        targets = np.fromiter((id_rows[w] for w in wanted), dtype=np.int64)
        flags[q] = np.isin(rows[q], targets)
        counts[q] = len(targets)
    return flags, counts


def tune(rows, dense, lexical, mask, relevant_ids, ids: list, *, depth: int, k: int, documents=None):
    """The fusion chosen on these queries and its report (twinbert.search.fusion.tune). With
    ``documents`` (a document index: rows are chunks), relevance and nDCG are the documents'."""
    if documents is None:
        flags, counts = relevance(rows, ids, relevant_ids, {item: row for row, item in enumerate(ids)})
        return choose_fusion(dense, lexical, mask, flags, counts, depth=depth, k=k, rows=rows)
    groups = np.where(mask, documents.rows[np.maximum(rows, 0), 0], -1)
    flags, counts = relevance(groups, documents.ids, relevant_ids,
                              {item: position for position, item in enumerate(documents.ids)})
    return choose_fusion(dense, lexical, mask, flags, counts, depth=depth, k=k, rows=rows, groups=groups)


def lexical_part(setting: Any, texts: list, threads: int, where: str) -> LexicalIndex | None:
    """The lexical part of new rows: ``setting`` False/None (none), True (default settings) or a
    LexicalConfig; every row needs a text."""
    if setting is None or setting is False:
        return None
    config = setting if isinstance(setting, LexicalConfig) else LexicalConfig() if setting is True else None
    if config is None:
        raise InputError(f"{where}: lexical={setting!r}; expected True, False or a LexicalConfig", argument="lexical")
    missing = next((i for i, t in enumerate(texts) if t is None), None)
    if missing is not None:
        raise InputError(f"{where}: row {missing} has no text; the lexical part indexes texts (give texts= "
                         "with the embeddings)", argument="texts")
    return LexicalIndex.build(texts, config, threads=threads)


class HybridSearch:
    """The lexical part and the fusion of an Index (mixed into twinbert.search.Index, which gives
    ``_vectors``, ``_ids``, ``metric``, ``_query_vectors`` and ``_dense_rows``)."""

    _lexical: LexicalIndex | None = None
    fusion: Fusion | None = None   # None: fusion.DEFAULT
    fusion_report: dict | None = None         # how tune_fusion chose it

    @property
    def lexical(self) -> LexicalIndex | None:
        """The lexical part (BM25 over the rows' texts), or None when the index has none."""
        return self._lexical

    def _lexical_added(self, texts: list, where: str) -> LexicalIndex | None:
        """The lexical part with ``texts`` added (the current one untouched), or None without one."""
        if self._lexical is None:
            return None
        missing = next((i for i, t in enumerate(texts) if t is None), None)
        if missing is not None:
            raise InputError(f"{where}: row {missing} has no text, but this index has a lexical part that "
                             "indexes every row's text; give texts= with the embeddings", argument="texts")
        return self._lexical.add(texts)

    def _exact(self, vectors: np.ndarray):
        """(query number, rows) -> the exact dense scores of those rows (higher = more similar)."""
        def scores(q: int, rows: np.ndarray) -> np.ndarray:
            stored = np.asarray(self._vectors[rows], dtype=np.float32)
            if self.metric in ("cosine", "dot"):
                return stored @ vectors[q]
            if self.metric == "euclidean":
                return -np.linalg.norm(stored - vectors[q], axis=1)
            return -np.abs(stored - vectors[q]).sum(axis=1)
        return scores

    def _candidates(self, queries: list[str], encoder: Any, force: bool, prompt: dict, depth: int,
                    query_embeddings: Any = None):
        given = query_embeddings is not None
        vectors = self._query_vectors(query_embeddings if given else queries, encoder, force, "Index.search", prompt)
        if len(vectors) != len(queries):
            raise InputError(f"query_embeddings has {len(vectors)} rows for {len(queries)} queries; give one per "
                             "query", argument="query_embeddings")
        return candidates(self._dense_rows(vectors, depth), self._exact(vectors), self._lexical, queries, depth)

    def _search_mode(self, queries: Any, k: int, mode: str, encoder: Any, force: bool,
                     prompt: dict, query_embeddings: Any = None) -> list[list[tuple[int, float]]]:
        """(row, score) hits of a lexical or hybrid search."""
        texts = text_queries(queries, mode)
        if mode == "lexical":
            return self._lexical.search(texts, k)
        fusion = self.fusion or DEFAULT
        rows, dense, lexical, mask = self._candidates(texts, encoder, force, prompt, max(fusion.depth, k),
                                                      query_embeddings)
        return hybrid_hits(rows, dense, lexical, mask, fusion, k)

    def tune_fusion(self, queries: Sequence[str], relevant: Sequence[Sequence[Any]], encoder: Any = None, *,
                    k: int = 10, depth: int = 100, force: bool = False, prompt_name: str | None = None,
                    prompt: str | None = None, query_embeddings: Any = None) -> dict:
        """Choose the hybrid search's fusion on queries with known answers and keep it (saved with
        the index): ``relevant[i]`` lists the ids relevant to ``queries[i]``. Compares convex
        combinations of min-max and z-score normalised scores and reciprocal-rank fusion, at lexical
        weights 0 to 1 by 0.05, by mean nDCG@k over the queries (twinbert.search.fusion). Returns the
        report (also ``index.fusion_report``): the chosen settings, its nDCG@k beside dense alone,
        lexical alone and the untuned default's, the number of queries, and every fusion tried.
        Queries should be held out of whatever is evaluated later: a weight chosen on the test
        queries flatters the test score. query_embeddings: the queries' vectors when encoded
        already (the texts still go to the lexical part); else they are encoded as in search."""
        texts = tuning_queries(queries, self._lexical, k, depth)
        documents = getattr(self, "_documents", None)
        rows, dense, lexical, mask = self._candidates(texts, encoder, force,
                                                      {"prompt_name": prompt_name, "prompt": prompt}, depth,
                                                      query_embeddings)
        self.fusion, self.fusion_report = tune(rows, dense, lexical, mask, relevant, self._ids, depth=depth, k=k,
                                               documents=documents)
        return self.fusion_report

    def set_fusion(self, fusion: Fusion | None) -> None:
        """Use this fusion for hybrid search (None: the default); kept by save."""
        if fusion is not None and not isinstance(fusion, Fusion):
            raise InputError(f"set_fusion: expected a twinbert.search.fusion.Fusion or None, got {type(fusion).__name__}",
                             argument="fusion")
        self.fusion, self.fusion_report = fusion, None

    def _fusion_record(self) -> dict | None:
        if self.fusion is None:
            return None
        return {**self.fusion.to_dict(), "report": self.fusion_report}

    def _restore_hybrid(self, folder: Any, path: Any) -> None:
        """The lexical part and fusion of the folder at ``path`` read by twinbert.formats.index_folder."""
        if folder.lexical is not None:
            self._lexical = LexicalIndex.read(Path(path), folder.lexical)
        if folder.fusion is not None:
            self.fusion = Fusion.from_dict(folder.fusion)
            self.fusion_report = folder.fusion.get("report")


__all__ = ["MODES", "HybridSearch", "candidates", "check_mode", "lexical_part", "hybrid_hits", "text_queries", "tune"]
