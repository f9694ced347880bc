"""Which structure serves which backend of the Index; the Index reaches them only through here.

- ``flat``: none (the exact search over the stored vectors).
- ``hnsw``, ``ivf``: twinbert.search._faiss (FAISS graph / inverted lists of float vectors).
- ``ivfpq``: twinbert.search.ivfpq (PQ codes, re-scored from the memory-mapped vectors).
- ``int8``, ``binary``: twinbert.search.compressed (every row's int8 or sign-bit code scanned, re-scored
  from the memory-mapped vectors).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._faiss import FaissBackend
from ._faiss import check_params as faiss_params
from .compressed import KINDS as COMPRESSED
from .compressed import CompressedBackend
from .compressed import check_params as compressed_params
from .ivfpq import IvfPqBackend
from .ivfpq import check_params as ivfpq_params
from .ivfpq import tune_ann as ivfpq_tune

# what set_search_params may change, per backend
SEARCH_KNOBS: dict[str, tuple[str, ...]] = {"flat": (), "hnsw": ("ef_search",), "ivf": ("nprobe",),
                                            "ivfpq": ("nprobe", "rerank"), "int8": ("rerank",),
                                            "binary": ("rerank",)}


# what to change when a backend's search knob cannot reach a recall target (only the backend's own params)
OUT_OF_REACH: dict[str, str] = {
    "hnsw": "rebuild with a larger M / ef_construction, or use ivf",
    "ivf": "rebuild with fewer cells (nlist), or use hnsw",
    "ivfpq": "rebuild with more bytes per code (m) or a larger rerank, or use ivf / hnsw",
    "int8": "raise rerank (set_search_params), or use flat for exact results",
    "binary": "raise rerank (set_search_params), or use int8 / flat",
}


def check_params(backend: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters of an approximate ``backend`` with defaults filled; unknown or bad ones refused."""
    if backend == "ivfpq":
        return ivfpq_params(params)
    if backend in COMPRESSED:
        return compressed_params(backend, params)
    return faiss_params(backend, params)


def build_ann(backend: str, metric: str, params: dict[str, Any], vectors: np.ndarray,
              positions: np.ndarray | None = None):
    """The approximate structure over the rows of ``vectors`` at ``positions`` (default all)."""
    if backend == "ivfpq":
        return IvfPqBackend.build(metric, params, vectors, positions)
    if backend in COMPRESSED:
        return CompressedBackend.build(backend, metric, params, vectors, positions)
    return FaissBackend.build(backend, metric, params, vectors, positions)


def read_ann(folder, described_by: str = "meta.json"):
    """The approximate structure of an index folder read by twinbert.formats.index_folder.read."""
    if folder.backend == "ivfpq":
        return IvfPqBackend.read(folder.ann_path, folder.metric, folder.backend_params, folder.vectors,
                                       described_by)
    if folder.backend in COMPRESSED:
        return CompressedBackend.read(folder.ann_path, folder.backend, folder.metric,
                                                 folder.backend_params, folder.vectors, described_by)
    return FaissBackend.read(folder.ann_path, folder.backend, folder.metric, folder.backend_params,
                             dimension=folder.vectors.shape[1], count=len(folder.ids), described_by=described_by)


def tune_ann(ann, vectors: np.ndarray, metric: str, recall: float = 0.95, **kwargs) -> dict[str, Any]:
    """twinbert.search.tuning.tune for the backend's knob (ivfpq: its two knobs, see ivfpq.tune_ann)."""
    from .tuning import tune

    if isinstance(ann, IvfPqBackend):
        return ivfpq_tune(ann, vectors, metric, recall, **kwargs)
    return tune(ann, vectors, metric, recall, **kwargs)
