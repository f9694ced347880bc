"""Compressed embeddings: fewer bytes per vector, as sentence-transformers' ``quantize_embeddings`` makes them.

output_dtype   bytes per 384-dim vector   what a value is
float32        1536                       the vector as computed
float16        768                        rounded to half precision
int8 / uint8   384  (4x less)             per dimension, the calibration range [min, max] cut into 256 equal
                                          steps: q = clip(floor((x - min) / step), 0, 255) (- 128 for int8)
binary/ubinary 48   (32x less)            one bit per dimension, x > 0, packed 8 to a byte (binary: - 128 as int8)

The int8 ranges come from calibration embeddings, ideally a few thousand of the corpus: :func:`calibration_ranges`
(or the vectors being quantized, as sentence-transformers does when none are given). Quantized vectors are
searched approximately and the best candidates re-scored with the float vectors
(twinbert.search.compressed), which is how int8 keeps recall@10 >= 0.99 and binary >= 0.95.

Matryoshka truncation (``truncate_dim``) keeps the first dimensions of a model trained for it (see
twinbert.losses.matryoshka); vectors the model normalizes are normalized again after the cut.
"""
from __future__ import annotations

import logging

import numpy as np

from .checks import choice
from .errors import InputError

OUTPUT_DTYPES = ("float32", "float16", "int8", "uint8", "binary", "ubinary")
_BITS = {"float32": 32, "float16": 16, "int8": 8, "uint8": 8, "binary": 1, "ubinary": 1}
_FEW_FOR_CALIBRATION = 100  # fewer rows give unstable ranges (sentence-transformers warns too)

log = logging.getLogger(__name__)


def check_output_dtype(output_dtype: str | None) -> str:
    return "float32" if output_dtype is None else choice(output_dtype, "output_dtype", OUTPUT_DTYPES)


def bytes_per_vector(output_dtype: str, dimension: int) -> int:
    """Bytes one vector of ``dimension`` takes as ``output_dtype`` (bits packed to whole bytes)."""
    return -(-dimension * _BITS[check_output_dtype(output_dtype)] // 8)


def calibration_ranges(embeddings) -> np.ndarray:
    """[2, dim] float32: per dimension the min (row 0) and the max (row 1) of the calibration embeddings."""
    embeddings = _float_matrix(embeddings, "calibration embeddings")
    if len(embeddings) < 2:
        raise InputError("int8 / uint8 need calibration ranges from 2 or more embeddings (better: a few "
                         "thousand of the corpus); pass ranges=calibration_ranges(sample)", argument="ranges")
    if len(embeddings) < _FEW_FOR_CALIBRATION:
        log.warning("int8 ranges computed from %d embeddings only; ranges from a larger sample of the corpus "
                    "are more stable (ranges=twinbert.quantize.calibration_ranges(sample))", len(embeddings))
    return np.vstack([embeddings.min(axis=0), embeddings.max(axis=0)]).astype(np.float32)


def quantize(embeddings, output_dtype: str, ranges=None) -> np.ndarray:
    """``embeddings`` [n, dim] float as ``output_dtype``; int8 / uint8 use ``ranges`` ([2, dim], see
    :func:`calibration_ranges`), or the embeddings' own min / max when None. The same values as
    sentence_transformers.quantization.quantize_embeddings."""
    output_dtype = check_output_dtype(output_dtype)
    embeddings = _float_matrix(embeddings, "embeddings")
    if output_dtype == "float32":
        return embeddings
    if output_dtype == "float16":
        return embeddings.astype(np.float16)
    if output_dtype in ("binary", "ubinary"):
        packed = np.packbits(embeddings > 0, axis=-1)
        return (packed.astype(np.int16) - 128).astype(np.int8) if output_dtype == "binary" else packed
    ranges = calibration_ranges(embeddings) if ranges is None else check_ranges(ranges, embeddings.shape[1])
    starts, steps = _steps(ranges)
    levels = np.clip(np.floor((embeddings - starts) / steps), 0, 255)
    return (levels - 128).astype(np.int8) if output_dtype == "int8" else levels.astype(np.uint8)


def dequantize(quantized: np.ndarray, output_dtype: str, ranges=None) -> np.ndarray:
    """Float32 approximations of quantized vectors: the middle of each int8 step; +-1 per binary bit."""
    output_dtype = check_output_dtype(output_dtype)
    if output_dtype in ("float32", "float16"):
        return np.asarray(quantized, np.float32)
    if output_dtype in ("binary", "ubinary"):
        packed = quantized.view(np.uint8) if output_dtype == "ubinary" else (quantized.astype(np.int16) + 128).astype(np.uint8)
        return np.unpackbits(packed, axis=-1).astype(np.float32) * 2 - 1
    if ranges is None:
        raise InputError(f"dequantizing {output_dtype} needs the ranges it was quantized with", argument="ranges")
    starts, steps = _steps(check_ranges(ranges, quantized.shape[1]))
    levels = quantized.astype(np.float32) + (128 if output_dtype == "int8" else 0)
    return (starts + (levels + 0.5) * steps).astype(np.float32)


def truncate(embeddings: np.ndarray, truncate_dim: int | None, normalize: bool) -> np.ndarray:
    """The first ``truncate_dim`` dimensions (Matryoshka), L2-normalized again when ``normalize``."""
    if truncate_dim is None or truncate_dim >= embeddings.shape[-1]:
        return embeddings
    cut = np.ascontiguousarray(embeddings[..., :truncate_dim])
    if normalize:
        norms = np.linalg.norm(cut, axis=-1, keepdims=True)
        cut = cut / np.where(norms > 0, norms, 1)
    return cut.astype(np.float32, copy=False)


def check_truncate_dim(truncate_dim, dimension: int) -> int | None:
    if truncate_dim is None:
        return None
    if isinstance(truncate_dim, bool) or not isinstance(truncate_dim, (int, np.integer)) \
            or not 1 <= truncate_dim <= dimension:
        raise InputError(f"truncate_dim must be an integer in 1..{dimension} (the model's dimension), got "
                         f"{truncate_dim!r}", argument="truncate_dim")
    return int(truncate_dim)


def check_ranges(ranges, dimension: int) -> np.ndarray:
    ranges = np.asarray(ranges, dtype=np.float32)
    if ranges.shape != (2, dimension) or not np.isfinite(ranges).all():
        raise InputError(f"ranges must be a finite [2, {dimension}] array (row 0: minimums, row 1: maximums, "
                         f"see twinbert.quantize.calibration_ranges), got shape {ranges.shape}", argument="ranges")
    return ranges


def _steps(ranges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    starts = ranges[0]
    steps = (ranges[1] - starts) / 255
    return starts, np.where(steps == 0, 1, steps)


def _float_matrix(embeddings, what: str) -> np.ndarray:
    if hasattr(embeddings, "detach"):
        embeddings = embeddings.detach().cpu().float().numpy()
    array = np.asarray(embeddings)
    if array.dtype.kind != "f" or array.ndim != 2:
        raise InputError(f"{what} must be a float matrix [n, dim], got {array.dtype} {array.shape}",
                         argument="embeddings")
    return array.astype(np.float32, copy=False)


__all__ = ["OUTPUT_DTYPES", "bytes_per_vector", "calibration_ranges", "dequantize", "quantize", "truncate"]
