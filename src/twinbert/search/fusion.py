"""Fusion of a dense and a lexical ranking into one, and choosing the fusion on held-out queries.

For each query the candidates are the union of the dense and the lexical top ``depth`` rows, each
candidate with BOTH its scores (its exact dense similarity and its BM25 score, so a row that only
one side ranked is not scored as if the other side had never seen it). Then:

* ``convex`` (the default): ``w * norm(lexical) + (1 - w) * norm(dense)``, each side's scores
  normalised over the query's candidates: ``minmax`` to [0, 1], or ``zscore`` (mean 0, deviation 1).
  Bruch, Gai and Ingber 2023 ("An Analysis of Fusion Functions for Hybrid Retrieval", TOIS) find a
  convex combination of normalised scores better than rank fusion, and its one weight cheap to
  choose from a few dozen queries.
* ``rrf``: reciprocal-rank fusion (Cormack et al. 2009), ``w / (rrf_k + rank_lexical) +
  (1 - w) / (rrf_k + rank_dense)``, ranks among the candidates; scale-free, but it throws away how
  far apart the scores are.

The weight is the LEXICAL share: 0 = dense alone, 1 = lexical alone. No weight suits every
collection: BM25 wins on question-answering over Wikipedia (korquad: BM25 0.94, e5-small 0.87
nDCG@10), while dense models win by a wide margin on paraphrased or conversational queries. So an
index keeps its own fusion, chosen by :func:`tune` on queries with known answers (the grid below,
both endpoints included, so on the tuning queries the fusion is never worse than the better side
alone). Without tuning, ``DEFAULT``: convex, min-max, weight 0.5, the even mix, which on korquad dev
already beats both sides (benchmarks/RESULTS.md).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import InputError

METHODS = ("convex", "rrf")
NORMALISATIONS = ("minmax", "zscore")
WEIGHTS = tuple(round(w * 0.05, 2) for w in range(21))  # the grid tune() searches, 0 .. 1 by 0.05


@dataclass(frozen=True)
class Fusion:
    """How a hybrid search mixes its two rankings; saved with the index."""

    method: str = "convex"          # convex | rrf
    weight: float = 0.5             # the lexical share, 0 (dense alone) .. 1 (lexical alone)
    normalisation: str = "minmax"   # convex: minmax | zscore
    rrf_k: int = 60                 # rrf: the rank offset of Cormack et al.
    depth: int = 100                # candidates taken from each side per query

    def __post_init__(self):
        if self.method not in METHODS:
            raise InputError(f"fusion method {self.method!r}: expected one of {', '.join(METHODS)}", argument="fusion")
        if self.normalisation not in NORMALISATIONS:
            raise InputError(f"normalisation {self.normalisation!r}: expected one of {', '.join(NORMALISATIONS)}",
                             argument="normalisation")
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)) or not 0 <= self.weight <= 1:
            raise InputError(f"fusion weight {self.weight!r}: expected a number in [0, 1] (the lexical share)",
                             argument="weight")
        for name in ("rrf_k", "depth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name}={value!r}: expected a positive integer", argument=name)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Fusion:
        known = {k: data[k] for k in ("method", "weight", "normalisation", "rrf_k", "depth") if k in data}
        return cls(**known)


DEFAULT = Fusion()


def _normalise(scores: np.ndarray, mask: np.ndarray, how: str) -> np.ndarray:
    """Each row's scores normalised over its valid entries (``mask``); padding becomes 0."""
    big = np.where(mask, scores, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        if how == "minmax":
            low, high = np.nanmin(big, axis=1, keepdims=True), np.nanmax(big, axis=1, keepdims=True)
            out = (big - low) / (high - low)
        else:
            mean, std = np.nanmean(big, axis=1, keepdims=True), np.nanstd(big, axis=1, keepdims=True)
            out = (big - mean) / std
    return np.where(mask & np.isfinite(out), out, 0.0)  # one candidate, or all equal: no information


def _ranks(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """1-based rank of each candidate by score within its row (padding last)."""
    order = np.argsort(np.where(mask, -scores, np.inf), axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, order.shape[1] + 1)[None, :].repeat(len(order), 0), axis=1)
    return ranks


def fuse(dense: np.ndarray, lexical: np.ndarray, mask: np.ndarray, fusion: Fusion) -> np.ndarray:
    """Fused scores [queries, candidates] from both sides' raw scores of the same candidates
    (``mask``: which entries are real candidates); padding gets -inf."""
    w = float(fusion.weight)
    if fusion.method == "rrf":
        fused = w / (fusion.rrf_k + _ranks(lexical, mask)) + (1 - w) / (fusion.rrf_k + _ranks(dense, mask))
    else:
        fused = (w * _normalise(lexical, mask, fusion.normalisation)
                 + (1 - w) * _normalise(dense, mask, fusion.normalisation))
    return np.where(mask, fused, -np.inf)


def ndcg(fused: np.ndarray, relevant: np.ndarray, counts: np.ndarray, k: int,
         rows: np.ndarray | None = None, groups: np.ndarray | None = None) -> np.ndarray:
    """nDCG@k of each query's ranking by ``fused`` (binary relevance; ``counts``: each query's number of
    relevant rows in the whole index, for the ideal ranking), ties broken by ``rows`` (the candidates'
    row numbers, as search breaks them; default: candidate position). ``groups``: the document of each
    candidate (a document index: chunks as rows), ranked by its best candidate as search ranks them, so
    that a document counts once (``relevant`` and ``counts`` then speak of documents)."""
    rows = np.broadcast_to(np.arange(fused.shape[1]), fused.shape) if rows is None else rows
    order = np.lexsort((rows, -fused), axis=-1)
    valid = relevant & np.isfinite(fused)
    if groups is None:
        top = order[:, :k]
        gains = np.take_along_axis(valid, top, axis=1)
    else:
        gains = np.zeros((len(order), min(k, order.shape[1])), bool)
        for q, ranked in enumerate(order):
            ranked = ranked[np.isfinite(fused[q, ranked]) & (groups[q, ranked] >= 0)]
            _, first = np.unique(groups[q, ranked], return_index=True)  # each document at its best candidate
            best = ranked[np.sort(first)][:gains.shape[1]]
            gains[q, :len(best)] = valid[q, best]
    discounts = 1.0 / np.log2(np.arange(2, gains.shape[1] + 2))
    ideal = np.cumsum(discounts)[np.minimum(counts, gains.shape[1]) - 1]
    return (gains * discounts).sum(axis=1) / ideal


def grid(depth: int) -> list[Fusion]:
    """The fusions :func:`tune` compares: the default first (it wins ties), then convex min-max,
    convex z-score and RRF at every weight of WEIGHTS."""
    found = [Fusion(depth=depth)]
    for method, norm in (("convex", "minmax"), ("convex", "zscore"), ("rrf", "minmax")):
        found += [Fusion(method, w, norm, depth=depth) for w in WEIGHTS]
    return found


def tune(dense: np.ndarray, lexical: np.ndarray, mask: np.ndarray, relevant: np.ndarray, counts: np.ndarray,
         *, depth: int, k: int = 10, rows: np.ndarray | None = None,
         groups: np.ndarray | None = None) -> tuple[Fusion, dict]:
    """The fusion of :func:`grid` with the best mean nDCG@k on these queries, and the report:
    the chosen fusion's settings, its nDCG@k, those of dense alone, lexical alone and the default,
    the number of queries, and every fusion tried. rows: the candidates' row numbers (ties);
    groups: their documents, for a document index (see :func:`ndcg`)."""
    tried = [(f, float(ndcg(fuse(dense, lexical, mask, f), relevant, counts, k, rows, groups).mean()))
             for f in grid(depth)]
    best, score = max(tried, key=lambda pair: pair[1])  # max keeps the first of equals: the default
    alone = {side: float(ndcg(np.where(mask, s, -np.inf), relevant, counts, k, rows, groups).mean())
             for side, s in (("dense", dense), ("lexical", lexical))}
    report = {**best.to_dict(), f"ndcg@{k}": score, f"dense_ndcg@{k}": alone["dense"],
              f"lexical_ndcg@{k}": alone["lexical"], f"default_ndcg@{k}": tried[0][1],
              "queries": int(len(dense)), "tried": [{**f.to_dict(), f"ndcg@{k}": s} for f, s in tried[1:]]}
    return best, report


__all__ = ["DEFAULT", "METHODS", "NORMALISATIONS", "WEIGHTS", "Fusion", "fuse", "grid", "ndcg", "tune"]
