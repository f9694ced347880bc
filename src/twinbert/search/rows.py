"""The rows an Index takes in: texts, embeddings (an array or a .npy file) and ids, checked and
paired before anything is stored."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..similarity import as_embedding_matrix


def check_ids(ids: Sequence[Any], existing: set, where: str) -> None:
    """Each id a str or an int, unique among themselves and the ``existing`` ones."""
    seen = set(existing)
    for position, item in enumerate(ids):
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise InputError(f"{where}: id {item!r} at position {position} must be a string or an integer")
        if item in seen:
            raise InputError(f"{where}: duplicate id {item!r} at position {position}; ids must be unique")
        seen.add(item)


def as_float32(x: Any, name: str) -> np.ndarray:
    """Embeddings (checked: numeric, 2-D, finite) as a contiguous float32 numpy matrix."""
    matrix, _ = as_embedding_matrix(x, name, dtype=torch.float32)
    return np.ascontiguousarray(matrix.cpu().numpy())


def index_rows(texts: Any, embeddings: Any, ids: Sequence[Any] | None, encoder: Any, *, start: int, existing: set,
               where: str, dimension: int | None = None, prompt: dict | None = None) -> tuple[np.ndarray, list, list]:
    """(vectors float32 [n, dim], texts or None per row, ids) of the rows given to Index.build / add
    (``where``): texts encoded with ``encoder`` and ``prompt`` unless embeddings come too; embeddings
    from an array or a .npy file; ids default to ``start .. start + n - 1``, never one of ``existing``."""
    if isinstance(texts, str):
        raise InputError(f"{where}: texts must be a list of strings, not one string")
    if texts is not None:
        texts = list(texts)
        bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
        if bad is not None:
            raise InputError(f"{where}: texts[{bad}] is {type(texts[bad]).__name__}, not a string")
    if embeddings is None and texts is None:
        raise InputError(f"{where}: give texts (with an encoder) or embeddings")
    if embeddings is None:
        if encoder is None:
            raise InputError(f"{where}: texts need an encoder to be embedded; pass "
                             "encoder=twinbert.load(...) or give embeddings=")
        vectors = as_float32(encoder.encode(texts, **(prompt or {})), "the encoder's output") if texts else \
            np.zeros((0, dimension or int(getattr(encoder, "dimension", 1))), np.float32)
    elif isinstance(embeddings, (str, os.PathLike)):
        path = Path(embeddings)
        try:
            loaded = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise InputError(f"{path}: cannot read embeddings as a .npy file ({exc})") from exc
        vectors = as_float32(loaded, str(path))
    else:
        vectors = as_float32(embeddings, "embeddings")
    n = len(vectors)
    if texts is not None and len(texts) != n:
        raise InputError(f"{where}: {len(texts)} texts but {n} embeddings; they must pair up")
    if encoder is not None and getattr(encoder, "dimension", None) not in (None, vectors.shape[1]):
        raise InputError(f"{where}: embeddings have dimension {vectors.shape[1]} but the encoder "
                         f"{getattr(encoder, 'name', '')!r} has dimension {encoder.dimension}")
    if dimension is not None and vectors.shape[1] != dimension:
        raise InputError(f"{where}: embeddings have dimension {vectors.shape[1]} but the index has "
                         f"dimension {dimension}")
    if ids is None:
        ids_list = list(range(start, start + n))
    else:
        ids_list = list(ids)
        if len(ids_list) != n:
            raise InputError(f"{where}: {len(ids_list)} ids for {n} rows; give one id per row")
    check_ids(ids_list, existing, where)
    return vectors, (texts if texts is not None else [None] * n), ids_list


__all__ = ["as_float32", "check_ids", "index_rows"]
