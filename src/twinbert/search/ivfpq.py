"""IVF-PQ: the compressed approximate backend of the Index, for collections whose float32 vectors do not fit
in memory (``backend="ivfpq"``).

FAISS's IndexIVFPQ (optionally behind an OPQ rotation: ``opq=True``) holds, per vector, ``m`` bytes of
product-quantization codes plus an 8-byte id in its inverted lists: 56 bytes for m=48 against 1536 for a
float32 384-dim vector. PQ distances are coarse, so a search asks the inverted lists (``nprobe`` of ``nlist``
cells) for the ``rerank`` best candidates and re-scores them exactly with the stored float vectors, which
the Index keeps memory-mapped from vectors.npy: only the candidates' rows are read from disk.

``nprobe``, then ``rerank``, are tuned for a recall target like the ivf backend's nprobe
(twinbert.search.tuning, :func:`tune_ann`): the recall measured is the one after re-scoring. Build from
the Parquet shards of a distributed encode without holding all vectors: twinbert.search.ivfpq_build.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ._faiss import MIN_PER_CELL, check_nlist, require_faiss, training_rows
from .rescoring import RescoringBackend

DEFAULTS: dict[str, Any] = {"nlist": None, "nprobe": None, "m": None, "nbits": 8, "opq": 0, "rerank": 100,
                            "train_size": None}
_TRAIN_PER_CELL = MIN_PER_CELL  # FAISS's minimum points per centroid
_MAX_M = 64


def check_params(params: dict[str, Any]) -> dict[str, Any]:
    """The ivfpq parameters with defaults filled; unknown or bad ones refused."""
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise InputError(f"unknown parameter(s) {', '.join(unknown)} for backend='ivfpq'; accepted: "
                         f"{', '.join(DEFAULTS)}")
    merged = {**DEFAULTS, **params}
    for name, value in merged.items():
        if value is None and DEFAULTS[name] is None:
            continue
        low = 0 if name == "opq" else 1
        if isinstance(value, bool) and name == "opq":
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InputError(f"{name}={value!r} for backend='ivfpq' must be an integer >= {low}")
        merged[name] = int(value)
    if merged["nbits"] > 16:
        raise InputError(f"nbits={merged['nbits']} for backend='ivfpq' must be at most 16 (8 is usual)")
    return merged


def fill_params(params: dict[str, Any], count: int, dimension: int, rows: int | None = None) -> dict[str, Any]:
    """Defaults that depend on the data: nlist ~ 4 sqrt(n) cells (at most n / 39), m = the largest divisor
    of the dimension up to 48 (bytes per code), a training sample of 64 rows per cell, nprobe nlist / 16.
    ``count``: the rows trained on and added now, of ``rows`` given (the others held out to tune the search)."""
    params = dict(params)
    check_nlist(params["nlist"], "ivfpq", count, rows)
    params["nlist"] = params["nlist"] or min(max(1, int(4 * math.sqrt(count))), max(1, count // _TRAIN_PER_CELL))
    if params["m"] is None:
        params["m"] = max(d for d in range(1, min(48, dimension) + 1) if dimension % d == 0)
    if dimension % params["m"] or params["m"] > _MAX_M * 4:
        raise InputError(f"m={params['m']} for backend='ivfpq' must divide the dimension {dimension}")
    params["train_size"] = min(count, params["train_size"] or max(64 * params["nlist"], 256 * _TRAIN_PER_CELL))
    if params["train_size"] < params["nlist"]:
        raise InputError(f"train_size={params['train_size']} for backend='ivfpq' is fewer rows than the "
                         f"nlist={params['nlist']} cells k-means learns from them; give train_size >= "
                         f"{params['nlist'] * _TRAIN_PER_CELL} (or fewer cells)", argument="train_size")
    _check_pq_rows(params, count)
    params["nprobe"] = min(params["nprobe"] or max(1, params["nlist"] // 16), params["nlist"])
    return params


def _check_pq_rows(params: dict[str, Any], count: int) -> None:
    """PQ learns 2**nbits codes per sub-vector by k-means, so it needs that many training rows (FAISS
    would stop with a RuntimeError); say so before any work, with what would work instead."""
    rows, codes = params["train_size"], 2 ** params["nbits"]
    if rows >= codes:
        return
    fewer = int(math.log2(rows)) if rows >= 2 else 0
    limit = "it trains on" if rows == count else "train_size gives it"
    works = [f"give at least {codes} rows", f"use nbits={fewer} ({2 ** fewer} codes)" if fewer else None,
             "or backend 'flat' (exact) or 'hnsw' for a collection this small"]
    raise InputError(f"backend='ivfpq' with nbits={params['nbits']} learns {codes} codes per sub-vector and needs "
                     f"at least {codes} training rows; {limit} {rows}: " + ", ".join(w for w in works if w),
                     argument="nbits")


def check_metric(metric: str) -> None:
    if metric == "manhattan":
        raise InputError("backend='ivfpq' ranks by cosine, dot or euclidean; product quantization has no "
                         "manhattan distance (use flat, hnsw or ivf)", argument="metric")


def _factory(faiss, metric: str, params: dict[str, Any], dimension: int):
    check_metric(metric)
    fmetric = faiss.METRIC_L2 if metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
    rotation = f"OPQ{params['m']}," if params["opq"] else ""
    return faiss.index_factory(dimension, f"{rotation}IVF{params['nlist']},PQ{params['m']}x{params['nbits']}", fmetric)


class IvfPqBackend(RescoringBackend):
    """An IVF-PQ FAISS index over the rows of the Index, with exact re-scoring from ``vectors``.

    ``backend`` reads "ivf" for twinbert.search.tuning: the knob is nprobe over nlist cells, as there."""

    backend = "ivf"

    def __init__(self, metric: str, params: dict[str, Any], index: Any, vectors: np.ndarray):
        faiss = require_faiss()
        self.metric, self.params, self.index, self.vectors = metric, params, index, vectors
        self.inner = faiss.extract_index_ivf(index)

    @classmethod
    def train(cls, metric: str, params: dict[str, Any], sample: np.ndarray, vectors: np.ndarray) -> IvfPqBackend:
        """An empty index trained on ``sample`` (rows like the ones to add); re-scores from ``vectors``."""
        faiss = require_faiss()
        index = _factory(faiss, metric, params, sample.shape[1])
        ivf = faiss.extract_index_ivf(index)
        ivf.cp.seed = 0
        ivf.cp.max_points_per_centroid = max(_TRAIN_PER_CELL, len(sample) // max(params["nlist"], 1) + 1)
        pq = faiss.downcast_index(ivf).pq
        pq.cp.min_points_per_centroid = 1  # small collections: fewer than 39 x 256 rows is fine, no warning
        # polysemous training (Hamming-ordered codes) serves a filter twinbert does not use: 50 s on 6k rows
        faiss.downcast_index(ivf).do_polysemous_training = False
        if params["opq"]:  # the rotation's own alternating optimisation: 50 rounds by default, 20 do (OPQ paper)
            faiss.downcast_VectorTransform(faiss.downcast_index(index).chain.at(0)).niter = 20
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        return cls(metric, params, index, vectors)

    @classmethod
    def build(cls, metric: str, params: dict[str, Any], vectors: np.ndarray,
              positions: np.ndarray | None = None) -> IvfPqBackend:
        """Trained on a sample of the rows at ``positions`` (default all) and holding them; same contract as
        FaissBackend.build."""
        check_metric(metric)  # before the sizes: no other setting makes this metric work
        if positions is None:
            positions = np.arange(len(vectors))
        params = fill_params(params, len(positions), vectors.shape[1], len(vectors))
        ann = cls.train(metric, params, np.asarray(vectors[training_rows(positions, params["train_size"])]), vectors)
        ann.add(vectors[positions], positions)
        return ann

    def search(self, queries: np.ndarray, k: int, originals=None) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, indices)`` [n_queries, k] after exact re-scoring of the ``rerank`` best PQ candidates,
        read from ``originals`` (default the stored vectors; the tuning gives a pread reader of them)."""
        k = min(k, len(self))
        self.inner.nprobe = min(self.params["nprobe"], self.params["nlist"])
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        _, candidates = self.index.search(queries, min(max(k, self.params["rerank"]), len(self)))
        return self.rescored(queries, candidates, k, originals)

    def write(self, path: Path) -> None:
        require_faiss().write_index(self.index, str(path))

    @classmethod
    def read(cls, path: Path, metric: str, params: dict[str, Any], vectors: np.ndarray,
             described_by: str = "meta.json") -> IvfPqBackend:
        faiss = require_faiss()
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise InputError(f"{path}: not a readable FAISS index ({str(exc).splitlines()[0]})") from exc
        try:
            ivf = faiss.downcast_index(faiss.extract_index_ivf(index))
        except RuntimeError:
            ivf = None
        if not isinstance(ivf, faiss.IndexIVFPQ) or index.d != vectors.shape[1] or index.ntotal != len(vectors):
            raise InputError(f"{path}: holds a {type(index).__name__} of {index.ntotal} vectors of dimension "
                             f"{index.d}; {described_by} says ivfpq, {len(vectors)} x {vectors.shape[1]}")
        return cls(metric, params, index, vectors)

    def bytes_per_vector(self) -> float:
        """Memory of the inverted lists per vector: the PQ code and the 8-byte id."""
        return self.inner.code_size + 8


_MAX_RERANK = 4096


def tune_ann(ann: IvfPqBackend, vectors: np.ndarray, metric: str, recall: float = 0.95, **kwargs) -> dict[str, Any]:
    """twinbert.search.tuning.tune for ivfpq's two knobs in turn. nprobe first, with the most
    candidates re-scored (``rerank`` = 4096, or every row): the cells that hold the neighbours. Then, at that
    nprobe, the fewest candidates that keep the target, doubling from the ``rerank`` given: PQ distances are
    coarse, and how many candidates recover the exact top 10 depends on how well PQ tells the rows of a cell
    apart (clustered synthetic data with 10k near-tie rows per cluster: recall@10 0.93 with 1,024 candidates,
    0.985 with 2,048, m=48). The report says both (``then``: the rerank climb)."""
    from .tuning import tune

    cap = max(min(_MAX_RERANK, len(ann)), ann.params["rerank"])
    values, value = [], ann.params["rerank"]
    while value < cap:
        values.append(value)
        value *= 2
    ann.params["rerank"] = cap
    report = tune(ann, vectors, metric, recall, then=("rerank", values + [cap]) if values else None, **kwargs)
    return {**report, "rerank": ann.params["rerank"]}
