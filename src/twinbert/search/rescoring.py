"""What the backends that re-score share (ivfpq, int8, binary): a FAISS index of codes labelled with row
positions, whose candidates are re-scored exactly against the float vectors (memory-mapped once the index
is loaded: only the candidates' rows are read)."""
from __future__ import annotations

import numpy as np


def exact_scores(queries: np.ndarray, rows: np.ndarray, metric: str) -> np.ndarray:
    """Scores of every query against every row: dot (cosine: the vectors are unit length) or the negative
    euclidean distance, as the flat search gives them."""
    if metric == "euclidean":
        squared = (queries ** 2).sum(1)[:, None] - 2 * queries @ rows.T + (rows ** 2).sum(1)[None, :]
        return -np.sqrt(np.maximum(squared, 0))
    return queries @ rows.T


def rescore(queries: np.ndarray, candidates: np.ndarray, vectors: np.ndarray, metric: str,
            k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best of each query's candidate rows (-1 = none) by exact score against ``vectors`` (a memmap:
    only the candidates' rows are read, in row order)."""
    scores = np.full((len(queries), k), -np.inf, np.float32)
    found = np.full((len(queries), k), -1, np.int64)
    for q, row in enumerate(candidates):
        row = np.unique(row[row >= 0])
        if not len(row):
            continue
        exact = exact_scores(queries[q:q + 1], np.asarray(vectors[row], np.float32), metric)[0]
        best = np.argsort(-exact, kind="stable")[:k]
        scores[q, :len(best)], found[q, :len(best)] = exact[best], row[best]
    return scores, found


class RescoringBackend:
    """The part of an ivfpq / int8 / binary backend that is not about its codes. A subclass sets ``index``
    (FAISS, labels = row positions), ``vectors`` (the floats) and ``metric``, and says in :meth:`coded`
    what its index takes for a row."""

    any_order = True

    def coded(self, vectors: np.ndarray) -> np.ndarray:
        """Rows as the FAISS index takes them (the float rows themselves unless a subclass says otherwise)."""
        return vectors

    def add(self, vectors: np.ndarray, positions: np.ndarray) -> None:
        """Add rows under their row positions; rows beyond the re-scoring vectors are appended to them."""
        if not len(vectors):
            return
        positions = np.asarray(positions, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.index.add_with_ids(self.coded(vectors), positions)
        beyond = positions >= len(self.vectors)
        if beyond.any():  # Index.add: new rows the stored vectors do not have yet
            self.vectors = np.concatenate([self.vectors, vectors[beyond]])

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def rescored(self, queries: np.ndarray, candidates: np.ndarray, k: int,
                 originals=None) -> tuple[np.ndarray, np.ndarray]:
        """:func:`rescore` of the candidates against ``originals`` (default: the stored vectors)."""
        return rescore(queries, candidates, self.vectors if originals is None else originals, self.metric, k)
