"""What every evaluator shares: the encode options, turning a Dataset or a list into examples,
and encoding each unique text once through encoder.encode (the one batching engine)."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from ..similarity import METRICS, similarity

# encoder.encode keywords an evaluator passes through; anything else is a caller's mistake.
ENCODE_OPTIONS = ("pooling", "layers", "normalize", "batch_tokens", "precision", "show_progress", "prompt_name",
                  "prompt")


def check_encode_options(options: dict) -> dict:
    unknown = [k for k in options if k not in ENCODE_OPTIONS]
    if unknown:
        raise InputError(f"unknown encode option {unknown[0]!r}: expected some of {', '.join(ENCODE_OPTIONS)}")
    return {k: v for k, v in options.items() if v is not None}


def check_similarities(similarities) -> tuple[str, ...]:
    names = (similarities,) if isinstance(similarities, str) else tuple(similarities)
    for name in names:
        if name not in METRICS:
            raise InputError(f"unknown similarity {name!r}: expected some of {', '.join(METRICS)}")
    if not names:
        raise InputError("similarities is empty: expected some of " + ", ".join(METRICS))
    return names


def examples_of(data, what: str) -> list:
    """The examples of a Dataset, or the list itself."""
    examples = getattr(data, "examples", data)
    if isinstance(examples, (str, bytes)) or not isinstance(examples, Sequence):
        raise InputError(f"{what}: expected a twinbert.data.Dataset or a list of examples, got {type(data).__name__}")
    return list(examples)


def describe(data) -> str:
    """'stsb/test (path)' for messages, or 'the examples' for a plain list."""
    name, split, path = (getattr(data, k, None) for k in ("name", "split", "path"))
    if name is None:
        return "the examples"
    where = f"{name}/{split}" if split else str(name)
    return f"{where} ({path})" if path else where


def encode_unique(encoder, texts: Sequence[str], options: dict) -> tuple[np.ndarray, dict[str, int]]:
    """Encode each distinct text once. Returns (vectors, text -> row)."""
    unique = list(dict.fromkeys(texts))
    vectors = encoder.encode(unique, **options) if unique else np.zeros((0, 0), dtype=np.float32)
    return np.asarray(vectors), {t: i for i, t in enumerate(unique)}


def rows(vectors: np.ndarray, index: dict[str, int], texts: Sequence[str]) -> np.ndarray:
    return vectors[np.fromiter((index[t] for t in texts), dtype=np.int64, count=len(texts))]


def pair_scores(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """sim(a[i], b[i]) in float32 (euclidean/manhattan as NEGATIVE distances), as float64 numpy."""
    return np.asarray(similarity(a, b, metric, pairwise=True), dtype=np.float64)


def clean(value):
    """A metric as a plain float, NaN as None (JSON has no NaN)."""
    value = float(value)
    return None if math.isnan(value) else value
