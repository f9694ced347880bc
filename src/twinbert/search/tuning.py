"""Choose the search knob of an approximate index for a recall target.

How much of the exact top-k an HNSW graph (``ef_search``) or an IVF index (``nprobe``) finds
depends on the data: with ef_construction 40, 0.996 at ``ef_search=128`` on 100k clustered
vectors, 0.85 at 1M. So the knob is measured, not guessed. Queries get their exact top-k from the
flat search; the knob climbs a doubling ladder until the mean recall@k, less two standard errors
of that mean (the queries are a sample: the bound keeps the recall of new queries at the target
with ~97 % confidence), reaches the target; then a few bisection steps between the last miss and
the first hit find the smallest value that still reaches it.

The queries, best first: given by the caller; rows held out of the ANN structure until the
tuning is done (what Index.build and Index.add use: fresh queries from the data's own
distribution); or stored rows, their own row left out of both answers. Stored rows flatter a
graph: the search lands on the row, whose links are its nearest neighbours (0.95 on stored rows
was 0.90 on new queries, 20k clustered vectors, M=16).

Rows of the corpus only stand in for the real queries, which may look different (questions
against abstracts): on Cranfield with all-MiniLM-L6-v2 the queries missed 2 to 2.6 times as many
of their exact top 10 as held-out abstracts did (IVF nprobe=6: 3.1 % vs 6.2 %; HNSW ef=16:
1.6 % vs 4.2 %). So with stand-ins the tuning aims at half the misses the target allows
(``aim``: 0.975 for 0.95); with given queries it aims at the target itself.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from ..formats.mapped import RowReader
from .exact import mapped_search

if TYPE_CHECKING:
    from ._faiss import FaissBackend

KNOBS = {"hnsw": "ef_search", "ivf": "nprobe", "int8": "rerank", "binary": "rerank"}
DEFAULT_RECALL = 0.95
DEFAULT_QUERIES = 200
_BISECT_STEPS = 3
_MAX_EF = 8192
_MAX_RERANK = 16384  # int8 / binary: candidates re-scored per query, at most
_MIN_HELD_OUT = 20
_STANDARD_ERRORS = 2.0  # the target must hold for the mean recall less two standard errors
_STAND_IN_MISS_FACTOR = 2.0  # Cranfield questions missed 2-2.6x as often as held-out abstracts


def hold_out(count: int, start: int, new: int, size: int = DEFAULT_QUERIES, seed: int = 0) -> np.ndarray | None:
    """Sorted positions of up to ``size`` random rows among the ``new`` rows from ``start`` (of
    ``count`` in all) to keep out of the ANN structure while tuning; None when too few rows
    (< 20) are new, or when so few are stored that nothing would be left to search."""
    size = min(size, new, max(count // 10, _MIN_HELD_OUT))
    if size < _MIN_HELD_OUT or count - size < _MIN_HELD_OUT:
        return None
    return start + np.sort(np.random.default_rng(seed).choice(new, size=size, replace=False))


def check_recall(recall: Any) -> float:
    if isinstance(recall, bool) or not isinstance(recall, (int, float)) or not 0 < recall <= 1:
        raise InputError(f"recall target {recall!r} must be a number in (0, 1], e.g. 0.95")
    return float(recall)


def ladder(backend: str, n: int, k: int, params: dict[str, Any]) -> list[int]:
    """The knob values tried in turn, smallest first; the last one is the most exhaustive."""
    if backend == "ivf":
        top, value = params["nlist"], 1
    elif KNOBS[backend] == "rerank":
        top, value = max(min(_MAX_RERANK, n), k), k
    else:
        top, value = max(min(_MAX_EF, n), k), max(16, k)
    values = []
    while value < top:
        values.append(value)
        value *= 2
    return values + [top]


def _ground_truth(vectors: np.ndarray, queries: np.ndarray, metric: str, k: int,
                  absent: np.ndarray | None = None) -> list[list[int]]:
    """The exact top-k row positions of each query, leaving out the rows at ``absent``."""
    metric = "dot" if metric == "cosine" else metric  # stored and query vectors are unit length
    skip = set() if absent is None else set(absent.tolist())
    depth = min(k + len(skip), len(vectors))
    rows = mapped_search(queries, vectors, top_k=depth, metric=metric)
    return [[i for i, _ in row if i not in skip][:k] for row in rows]


def _drop_self(rows: list[list[int]], own: np.ndarray | None, k: int) -> list[set[int]]:
    """The first k ids of each row, without the query's own row when it is a stored vector."""
    if own is None:
        return [set(row[:k]) for row in rows]
    return [set([i for i in row if i != r][:k]) for row, r in zip(rows, own.tolist())]


def tune(ann: FaissBackend, vectors: np.ndarray, metric: str, recall: float = DEFAULT_RECALL, k: int = 10,
         queries: np.ndarray | None = None, sample: int = DEFAULT_QUERIES, seed: int = 0,
         held_out: np.ndarray | None = None, then: tuple[str, list[int]] | None = None) -> dict[str, Any]:
    """Set the search knob of ``ann`` to the smallest value whose recall@k reaches ``recall``.

    ``ann`` is the approximate structure over the rows of ``vectors`` (all of them but those at
    ``held_out``), as stored for ``metric`` (unit length for cosine): the exact answers come from
    ``vectors``. Queries: the stored rows at ``held_out`` (which ``ann`` must not hold yet), or
    ``queries`` (prepared like ``vectors``), or else ``sample`` random stored rows.
    ``then``: a second knob (its name in ``ann.params`` and its values, smallest first, the current
    one being the last) climbed the same way once the first has reached the target, against the same
    queries and exact answers; reported as ``then``.
    Returns the report that the Index keeps as ``index.tuning``.
    """
    recall = check_recall(recall)
    backend = ann.backend
    n = len(vectors)
    own = None
    if held_out is not None:
        queries, source = np.ascontiguousarray(vectors[held_out], dtype=np.float32), "held-out rows"
    elif queries is not None:
        source = "given queries"
    else:
        own = np.sort(np.random.default_rng(seed).choice(n, size=min(sample, n), replace=False))
        queries, source = np.ascontiguousarray(vectors[own], dtype=np.float32), "stored rows"
    # rows of the corpus stand in for queries that may look different: allow them half the misses
    aim = recall if source == "given queries" else 1 - (1 - recall) / _STAND_IN_MISS_FACTOR
    searchable = n - (0 if held_out is None else len(held_out))
    knob = KNOBS[backend]
    report = {"target": recall, "aim": round(aim, 6), "k": k, "queries": len(queries), "queries_from": source,
              "count": n}
    values = ladder(backend, searchable, k, ann.params)
    if searchable <= k:
        return {"knob": knob, **_exhaustive(knob, values, then, ann.params, searchable, k), **report}
    depth = min(k + (own is not None), searchable)
    truth = _drop_self(_ground_truth(vectors, queries, metric, depth, held_out), own, k)

    def measure(knob: str, value: int) -> tuple[float, float]:
        """(mean recall@k, its lower bound: the mean less two standard errors)."""
        ann.params[knob] = value
        found = _search(ann, queries, depth)
        hits = _drop_self([[i for i in row if i >= 0] for row in found.tolist()], own, k)
        per_query = np.array([len(h & t) / max(len(t), 1) for h, t in zip(hits, truth)])
        spread = per_query.std(ddof=1) / np.sqrt(len(per_query)) if len(per_query) > 1 else 0.0
        return float(per_query.mean()), float(per_query.mean() - _STANDARD_ERRORS * spread)

    report = {"knob": knob, **_climb(knob, values, measure, aim, ann.params), **report}
    if then is not None and report["reached"]:
        report["then"] = {"knob": then[0], **_climb(then[0], then[1], measure, aim, ann.params)}
    return report


def _exhaustive(knob: str, values: list[int], then: tuple[str, list[int]] | None, params: dict[str, Any],
                rows: int, k: int) -> dict[str, Any]:
    """No tuning for an index of at most k rows: every search asks for all of them, and the most exhaustive
    setting (the ladder's last value: every cell, every candidate re-scored, a search list as long as the
    index) finds them all, so its results are the exact ones. Measuring would say nothing (one row queried
    by itself has no other neighbour: recall 0 of 0)."""
    params[knob] = values[-1]
    if then is not None:
        params[then[0]] = then[1][-1]
    return {"value": values[-1], "recall": 1.0, "recall_low": 1.0, "reached": True, "trials": [],
            "skipped": f"{rows} row{'s' if rows != 1 else ''}, at most k={k}: searched exhaustively "
                       f"({knob}={values[-1]}), so exact; nothing to tune"}


def _search(ann, queries: np.ndarray, depth: int) -> np.ndarray:
    """The row positions ``ann`` finds for the queries. A backend that re-scores from memory-mapped vectors
    (ivfpq, int8, binary) reads the candidates' rows with pread here (twinbert.formats.mapped.RowReader):
    through the map, the candidates of 200 queries on 10M scattered rows put the whole 15 GB file in this
    process's RSS (the kernel maps file pages 2 MB at a time)."""
    vectors = getattr(ann, "vectors", None)
    if getattr(vectors, "_mmap", None) is None:
        return ann.search(queries, depth)[1]
    return ann.search(queries, depth, originals=RowReader(vectors))[1]


def _climb(knob: str, values: list[int], measure, aim: float, params: dict[str, Any]) -> dict[str, Any]:
    """Up the ladder ``values`` until the lower bound of the recall reaches ``aim``, then bisect between the
    last miss and the first hit; ``measure(knob, value)`` sets the knob and measures. ``params[knob]`` is
    left at the value chosen (the most exhaustive one when none reaches the aim)."""
    trials: dict[int, tuple[float, float]] = {}
    miss, hit = None, None
    for value in values:
        trials[value] = measure(knob, value)
        if trials[value][1] >= aim:
            hit = value
            break
        miss = value
    if hit is not None and miss is not None:
        for _ in range(_BISECT_STEPS):
            mid = (miss + hit) // 2
            if mid in (miss, hit):
                break
            trials[mid] = measure(knob, mid)
            miss, hit = (miss, mid) if trials[mid][1] >= aim else (mid, hit)
    if hit is None:  # the target is out of reach: keep the most exhaustive setting
        hit = max(trials)
    params[knob] = hit
    mean, low = trials[hit]
    return {"value": hit, "recall": round(mean, 4), "recall_low": round(low, 4), "reached": low >= aim,
            "trials": [[v, round(m, 4), round(lo, 4)] for v, (m, lo) in trials.items()]}
