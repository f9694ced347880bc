"""Search over compressed embeddings with float re-scoring: a function for codes a user holds
(twinbert.quantize), and the ``int8`` / ``binary`` backends of the Index.

Stage 1 ranks the whole corpus cheaply from its compressed codes: int8 / uint8 by the float query against
the de-quantized rows (chunk by chunk: 4x less memory than float32), binary / ubinary by Hamming distance
between the packed sign bits (FAISS's IndexBinaryFlat: 32x less). Stage 2 re-scores the
``top_k * rerank_multiplier`` best candidates exactly, with the float32 originals (a memory map of them on
disk is enough: only the candidates' rows are read) or, without originals, with the float query against
the de-quantized candidates (sentence-transformers' ``rescore``).

The Index backends (``Index.build(..., backend="int8" | "binary")``) keep only the codes in memory, in FAISS:
int8 is its 8-bit scalar quantizer (per-dimension ranges trained on the rows, 1 byte per dimension, scanned
with the float query), binary its flat Hamming index over the sign bits (1 bit per dimension). Each holds an
8-byte id per row as well. The ``rerank`` best candidates of the scan are re-scored exactly from the float32
vectors, which a loaded index keeps memory-mapped (vectors.npy); ``rerank`` is tuned for a recall target
like the other approximate backends' knobs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..checks import positive_int
from ..errors import InputError
from ..quantize import check_output_dtype, dequantize
from ._faiss import require_faiss
from .rescoring import RescoringBackend, exact_scores

_CHUNK_ROWS = 65536
KINDS = ("int8", "binary")
DEFAULT_RERANK = {"int8": 40, "binary": 100}  # candidates re-scored per query before any tuning


def compressed_search(queries: np.ndarray, codes: np.ndarray, output_dtype: str, *, ranges=None,
                      originals: np.ndarray | None = None, top_k: int = 10, rerank_multiplier: int | None = None,
                      metric: str = "cosine") -> list[list[tuple[int, float]]]:
    """The ``top_k`` best corpus rows for each query: ``[(row, score), ...]`` best first, as
    twinbert.semantic_search gives them.

    queries: float32 [q, dim] (unit length for cosine, like the originals); codes: the corpus as quantized
    by twinbert.quantize.quantize(..., output_dtype, ranges); originals: the corpus's float32 vectors
    (memory-mapped is fine) for the exact re-scoring; metric: cosine / dot (dot products) or euclidean.
    rerank_multiplier: candidates re-scored per hit wanted; default 4 (int8: recall@10 1.0 on clustered
    384-dim data), 10 for binary (0.65 at 4, 0.99 at 10 on the same data).
    """
    output_dtype = check_output_dtype(output_dtype)
    top_k = positive_int(top_k, "top_k")
    if rerank_multiplier is None:
        rerank_multiplier = 10 if output_dtype in ("binary", "ubinary") else 4
    depth = min(len(codes), top_k * positive_int(rerank_multiplier, "rerank_multiplier"))
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if output_dtype in ("binary", "ubinary"):
        candidates = _hamming_candidates(queries, codes, output_dtype, depth)
    elif output_dtype in ("int8", "uint8"):
        if ranges is None:
            raise InputError(f"searching {output_dtype} codes needs the ranges they were quantized with", argument="ranges")
        candidates = _dequantized_candidates(queries, codes, output_dtype, ranges, depth, metric)
    else:
        candidates = _dequantized_candidates(queries, codes, output_dtype, None, depth, metric)
    results = []
    for q, rows in enumerate(candidates):
        rows = np.sort(rows)
        if originals is not None:
            scores = exact_scores(queries[q:q + 1], np.asarray(originals[rows], np.float32), metric)[0]
        else:
            scores = exact_scores(queries[q:q + 1], dequantize(codes[rows], output_dtype, ranges), metric)[0]
        best = np.argsort(-scores, kind="stable")[:top_k]
        results.append([(int(rows[b]), float(scores[b])) for b in best])
    return results


def _dequantized_candidates(queries, codes, output_dtype, ranges, depth, metric) -> np.ndarray:
    """The ``depth`` best rows per query by the float query against the de-quantized codes, chunk by chunk."""
    best_rows = np.zeros((len(queries), 0), np.int64)
    best_scores = np.zeros((len(queries), 0), np.float32)
    for start in range(0, len(codes), _CHUNK_ROWS):
        block = dequantize(np.asarray(codes[start:start + _CHUNK_ROWS]), output_dtype, ranges)
        scores = exact_scores(queries, block, metric).astype(np.float32)
        rows = np.broadcast_to(np.arange(start, start + len(block)), scores.shape)
        best_scores = np.concatenate([best_scores, scores], axis=1)
        best_rows = np.concatenate([best_rows, rows], axis=1)
        if best_scores.shape[1] > depth:
            keep = np.argpartition(-best_scores, depth - 1, axis=1)[:, :depth]
            best_scores = np.take_along_axis(best_scores, keep, 1)
            best_rows = np.take_along_axis(best_rows, keep, 1)
    return best_rows


def _hamming_candidates(queries, codes, output_dtype, depth) -> np.ndarray:
    faiss = require_faiss()
    packed = np.ascontiguousarray(codes.view(np.uint8) if output_dtype == "ubinary"
                                  else (codes.astype(np.int16) + 128).astype(np.uint8))
    index = faiss.IndexBinaryFlat(packed.shape[1] * 8)
    index.add(packed)
    _, rows = index.search(np.packbits(queries > 0, axis=-1), depth)
    return rows


def check_params(backend: str, params: dict[str, Any]) -> dict[str, Any]:
    """``rerank`` (candidates re-scored per query, a positive integer) with its default; nothing else."""
    unknown = sorted(set(params) - {"rerank"})
    if unknown:
        raise InputError(f"unknown parameter(s) {', '.join(unknown)} for backend={backend!r}; accepted: rerank")
    value = params.get("rerank", DEFAULT_RERANK[backend])
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"rerank={value!r} for backend={backend!r} must be a positive integer")
    return {"rerank": int(value)}


def _sign_bits(vectors: np.ndarray) -> np.ndarray:
    """Packed sign bits (1 where positive), 8 dimensions a byte, padded with zeros to a whole byte."""
    return np.packbits(np.asarray(vectors) > 0, axis=-1)


class CompressedBackend(RescoringBackend):
    """The int8 or binary codes of the rows in a FAISS index, with exact re-scoring from ``vectors``."""

    def __init__(self, backend: str, metric: str, params: dict[str, Any], index: Any, vectors: np.ndarray):
        self.backend, self.metric, self.params, self.index, self.vectors = backend, metric, params, index, vectors

    @classmethod
    def build(cls, backend: str, metric: str, params: dict[str, Any], vectors: np.ndarray,
              positions: np.ndarray | None = None) -> CompressedBackend:
        """Codes of the rows at ``positions`` (default all; int8's ranges are trained on them); same contract
        as FaissBackend.build."""
        faiss = require_faiss()
        if metric == "manhattan":
            raise InputError(f"backend={backend!r} ranks by cosine, dot or euclidean (use flat, hnsw or ivf for "
                             "manhattan)", argument="metric")
        if positions is None:
            positions = np.arange(len(vectors))
        dim = vectors.shape[1]
        if backend == "int8":
            fmetric = faiss.METRIC_L2 if metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
            codes = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, fmetric)
            codes.train(np.ascontiguousarray(vectors[positions], dtype=np.float32))
            index = faiss.IndexIDMap(codes)
        else:
            index = faiss.IndexBinaryIDMap(faiss.IndexBinaryFlat(8 * ((dim + 7) // 8)))
        ann = cls(backend, metric, dict(params), index, vectors)
        ann.add(vectors[positions], positions)
        return ann

    def coded(self, vectors: np.ndarray) -> np.ndarray:
        """Rows as the FAISS index takes them: the sign bits for binary."""
        return _sign_bits(vectors) if self.backend == "binary" else vectors

    def search(self, queries: np.ndarray, k: int, originals=None) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, indices)`` [n_queries, k]: the ``rerank`` best rows by their codes, re-scored exactly
        from ``originals`` (default the stored vectors; the tuning gives a pread reader of them)."""
        k = min(k, len(self))
        depth = min(max(k, self.params["rerank"]), len(self))
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        _, candidates = self.index.search(_sign_bits(queries) if self.backend == "binary" else queries, depth)
        return self.rescored(queries, candidates, k, originals)

    def write(self, path: Path) -> None:
        faiss = require_faiss()
        (faiss.write_index_binary if self.backend == "binary" else faiss.write_index)(self.index, str(path))

    @classmethod
    def read(cls, path: Path, backend: str, metric: str, params: dict[str, Any], vectors: np.ndarray,
             described_by: str = "meta.json") -> CompressedBackend:
        faiss = require_faiss()
        reader = faiss.read_index_binary if backend == "binary" else faiss.read_index
        try:
            index = reader(str(path))
        except RuntimeError as exc:
            raise InputError(f"{path}: not a readable FAISS {'binary ' if backend == 'binary' else ''}index "
                             f"({str(exc).splitlines()[0]})") from exc
        inner = getattr(index, "index", None)  # the codes inside the id map
        if inner is not None:
            inner = (faiss.downcast_index if backend == "int8" else faiss.downcast_IndexBinary)(inner)
        if backend == "int8":
            fits = isinstance(inner, faiss.IndexScalarQuantizer) and index.d == vectors.shape[1]
        else:
            fits = isinstance(inner, faiss.IndexBinaryFlat) and index.d == 8 * ((vectors.shape[1] + 7) // 8)
        if not fits or index.ntotal != len(vectors):
            raise InputError(f"{path}: holds a {type(inner or index).__name__} of {index.ntotal} rows of dimension "
                             f"{index.d}; {described_by} says {backend}, {len(vectors)} x {vectors.shape[1]}")
        return cls(backend, metric, params, index, vectors)

    def bytes_per_vector(self) -> float:
        """Memory per row: its code (int8: a byte per dimension; binary: a bit) and the 8-byte id."""
        return (self.index.d if self.backend == "int8" else self.index.d // 8) + 8
