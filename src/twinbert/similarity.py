"""Similarity between vectors: cosine, dot, euclidean, manhattan; as a matrix or pairwise.

Higher is always more similar: the distance metrics return the negative distance, so every
metric ranks the same way (and matches sentence-transformers' similarity functions).
"""
from __future__ import annotations

import numpy as np

from .checks import choice, optional_bool
from .errors import InputError

METRICS = ("cosine", "dot", "euclidean", "manhattan")


def _as_tensor(x, name: str):
    """`x` as a float [n, dim] tensor; anything but numbers (texts, dicts, None, ragged lists) is an
    InputError naming the argument, not torch's TypeError."""
    import torch

    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        try:
            array = np.asarray(x)
        except (TypeError, ValueError):  # ragged nested lists
            array = None
        if array is None or array.dtype.kind not in "biuf":
            shown = repr(x) if len(repr(x)) <= 40 else repr(x)[:37] + "..."
            hint = "; encode texts first (encoder.encode)" if isinstance(x, str) or (
                array is not None and array.dtype.kind in "USO") else ""
            raise InputError(f"{name} must be a vector or a matrix of vectors (numbers, e.g. from encode), got "
                             f"{type(x).__name__} {shown}{hint}", argument=name)
        t = torch.as_tensor(array)
    if t.ndim == 1:
        t = t.unsqueeze(0)
    if t.ndim != 2:
        raise InputError(f"{name} must be a vector or a matrix of vectors, got shape {tuple(t.shape)}", argument=name)
    if t.shape[0] and not t.shape[1]:
        raise InputError(f"{name} holds vectors of dimension 0", argument=name)
    return t.float()


def similarity(a, b=None, metric: str = "cosine", *, pairwise: bool = False):
    """Similarity of the rows of `a` with the rows of `b` (default: `a` itself).

    pairwise=False: an [n, m] matrix; pairwise=True: an [n] vector of sim(a[i], b[i]).
    Returns numpy unless both inputs are torch tensors.
    """
    import torch

    choice(metric, "metric", METRICS)
    pairwise = bool(optional_bool(pairwise, "pairwise"))
    as_torch = isinstance(a, torch.Tensor) and (b is None or isinstance(b, torch.Tensor))
    x = _as_tensor(a, "a")
    y = x if b is None else _as_tensor(b, "b")
    if x.shape[1] != y.shape[1]:
        raise InputError(f"dimension mismatch: a has {x.shape[1]}-dim vectors, b has {y.shape[1]}-dim")
    if pairwise:
        if x.shape[0] != y.shape[0]:
            raise InputError(f"pairwise similarity needs as many rows in a ({x.shape[0]}) as in b ({y.shape[0]})")
        if metric == "cosine":
            out = torch.nn.functional.cosine_similarity(x, y, dim=1, eps=1e-12)
        elif metric == "dot":
            out = (x * y).sum(dim=1)
        elif metric == "euclidean":
            out = -(x - y).norm(dim=1)
        else:
            out = -(x - y).abs().sum(dim=1)
    elif metric == "cosine":
        out = torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(y, dim=1).T
    elif metric == "dot":
        out = x @ y.T
    elif metric == "euclidean":
        out = -torch.cdist(x, y, p=2.0, compute_mode="donot_use_mm_for_euclid_dist")
    else:
        out = -torch.cdist(x, y, p=1.0)
    return out if as_torch else out.numpy()
