"""Approximate nearest-neighbour backends on FAISS (optional extra: ``pip install 'twinbert[faiss]'``).

- ``hnsw``: graph index (IndexHNSWFlat inside an IndexIDMap, so rows can go into the graph in
  any order). Params: ``M`` (links per node, 32), ``ef_construction`` (128; with faiss's 40, or
  64, recall@10 on 1M clustered vectors stopped near 0.85 / 0.97 whatever ef_search),
  ``ef_search`` (128 unless tuned, see ``tuning``; raised to k when k is larger).
- ``ivf``: inverted lists over k-means cells (IndexIVFFlat). Params: ``nlist`` (cells;
  default 2*sqrt(n) at build, at most n/39; more cells than rows is refused), ``nprobe`` (cells visited per query;
  default nlist/8, at least 8). The cells are trained once, on the vectors given to build
  (a sample of at most 64 per cell); later ``add`` calls reuse them.

FAISS labels are the Index's row positions. Indexes saved before the IndexIDMap wrapper hold a
bare IndexHNSWFlat whose labels are its insertion order; they are read and extended as they are.

Vectors come in already prepared by the Index (unit length for cosine), scores go out with
higher = more similar, as in the exact search.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from .. import extras
from ..errors import InputError

DEFAULTS: dict[str, dict[str, Any]] = {
    "hnsw": {"M": 32, "ef_construction": 128, "ef_search": 128},
    "ivf": {"nlist": None, "nprobe": None},
}
_TRAIN_PER_CELL = 64
MIN_PER_CELL = 39  # FAISS's k-means warns below 39 training rows per cell

# faiss logs which CPU build it loads ("INFO:faiss.loader:Loading faiss with AVX512 support") at INFO:
# noise for a user; its warnings still show
logging.getLogger("faiss.loader").setLevel(logging.WARNING)


def require_faiss():
    return extras.require("faiss", "an approximate index (backend='hnsw' or 'ivf')",
                          otherwise="backend='flat' works without it")


def check_params(backend: str, params: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and reject unknown or bad parameters (before any work is done)."""
    accepted = DEFAULTS[backend]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise InputError(f"unknown parameter(s) {', '.join(unknown)} for backend={backend!r}; "
                         f"accepted: {', '.join(accepted)}")
    merged = {**accepted, **params}
    for name, value in merged.items():
        if value is None and accepted[name] is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise InputError(f"{name}={value!r} for backend={backend!r} must be a positive integer")
        merged[name] = int(value)
    return merged


def check_nlist(nlist: int | None, backend: str, trained_on: int, rows: int | None = None) -> None:
    """An explicit ``nlist`` is honoured or refused, never cut: k-means cannot make more cells than the
    ``trained_on`` rows it learns them from (of ``rows`` given, the others held out to tune the search)."""
    if nlist is None or nlist <= trained_on:
        return
    held = "" if rows is None or rows == trained_on else (
        f" ({rows} rows given, {rows - trained_on} of them held out to tune the search knob)")
    raise InputError(f"nlist={nlist} for backend={backend!r} asks for more cells than the {trained_on} rows it is "
                     f"trained on{held}; use nlist <= {trained_on} (about {max(1, trained_on // MIN_PER_CELL)} "
                     f"gives each cell the {MIN_PER_CELL} rows k-means wants), or leave it out", argument="nlist")


def _faiss_metric(faiss, metric: str):
    return {"cosine": faiss.METRIC_INNER_PRODUCT, "dot": faiss.METRIC_INNER_PRODUCT,
            "euclidean": faiss.METRIC_L2, "manhattan": faiss.METRIC_L1}[metric]


def training_rows(positions: np.ndarray, size: int) -> np.ndarray:
    """The rows a quantizer trains on: all of `positions`, or a fixed-seed sorted sample of `size` of them."""
    if len(positions) <= size:
        return positions
    return np.sort(np.random.default_rng(0).choice(positions, size, replace=False))


class FaissBackend:
    """One FAISS index plus the knobs that are not stored in its file."""

    def __init__(self, backend: str, metric: str, params: dict[str, Any], index: Any):
        self.backend, self.metric, self.params, self.index = backend, metric, params, index
        faiss = require_faiss()
        # the index that holds the search knob (the graph or the inverted lists)
        self.inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap) else index

    @property
    def any_order(self) -> bool:
        """Whether rows may be added under any labels (False: a legacy bare HNSW graph)."""
        return self.inner is not self.index or self.backend == "ivf"

    @classmethod
    def build(cls, backend: str, metric: str, params: dict[str, Any], vectors: np.ndarray,
              positions: np.ndarray | None = None) -> FaissBackend:
        """An index holding the rows of ``vectors`` at ``positions`` (default: all), which also
        train the IVF cells; the other rows are added later with :meth:`add`."""
        faiss = require_faiss()
        if positions is None:
            positions = np.arange(len(vectors))
        n, dim = len(positions), vectors.shape[1]
        fmetric = _faiss_metric(faiss, metric)
        params = dict(params)
        if backend == "hnsw":
            graph = faiss.IndexHNSWFlat(dim, params["M"], fmetric)
            graph.hnsw.efConstruction = params["ef_construction"]
            index = faiss.IndexIDMap(graph)
        else:
            check_nlist(params["nlist"], backend, n, len(vectors))
            nlist = params["nlist"] or max(1, min(int(2 * math.sqrt(n)), n // MIN_PER_CELL))
            params["nlist"] = nlist
            params["nprobe"] = min(params["nprobe"] or max(8, nlist // 8), nlist)
            quantizer = faiss.IndexFlat(dim, fmetric)
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, fmetric)
            sample = vectors[training_rows(positions, nlist * _TRAIN_PER_CELL)]
            index.cp.max_points_per_centroid = _TRAIN_PER_CELL  # no subsampling warning
            index.cp.seed = 0
            index.train(np.ascontiguousarray(sample, dtype=np.float32))
        backend_obj = cls(backend, metric, params, index)
        backend_obj.add(vectors[positions], positions)
        return backend_obj

    def add(self, vectors: np.ndarray, positions: np.ndarray) -> None:
        """Add rows under their row positions in the Index."""
        if not len(vectors):
            return
        positions = np.asarray(positions, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.any_order:
            self.index.add_with_ids(vectors, positions)
        elif np.array_equal(positions, np.arange(len(self), len(self) + len(vectors))):
            self.index.add(vectors)
        else:
            raise InputError("this index holds a bare HNSW graph (saved before the IndexIDMap wrapper), which "
                             "takes new rows in order only")

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, indices)``, each ``[n_queries, k]``; index -1 marks an empty slot."""
        k = min(k, len(self))
        if self.backend == "hnsw":
            self.inner.hnsw.efSearch = max(self.params["ef_search"], k)
        else:
            self.inner.nprobe = self.params["nprobe"]
        distances, indices = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        if self.metric == "euclidean":  # faiss gives squared L2
            scores = -np.sqrt(np.maximum(distances, 0))
        elif self.metric == "manhattan":
            scores = -distances
        else:
            scores = distances
        return scores, indices

    def write(self, path: Path) -> None:
        require_faiss().write_index(self.index, str(path))

    @classmethod
    def read(cls, path: Path, backend: str, metric: str, params: dict[str, Any], *, dimension: int,
             count: int, described_by: str = "meta.json") -> FaissBackend:
        """The index in FAISS's own file at ``path``, checked against what ``described_by`` says
        of it (its backend, ``count`` vectors of ``dimension``)."""
        faiss = require_faiss()
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise InputError(f"{path}: not a readable FAISS index ({str(exc).splitlines()[0]})") from exc
        ann = cls(backend, metric, params, index)
        kind = faiss.IndexHNSW if backend == "hnsw" else faiss.IndexIVF
        if not isinstance(ann.inner, kind) or ann.index.d != dimension or len(ann) != count:
            raise InputError(f"{path}: holds a {type(ann.inner).__name__} of {len(ann)} vectors of dimension "
                             f"{ann.index.d}; {described_by} says {backend}, {count} x {dimension}")
        return ann
