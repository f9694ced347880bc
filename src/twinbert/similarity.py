"""Similarity between vectors: cosine, dot, euclidean, manhattan; as a matrix or pairwise.

Higher is always more similar: the distance metrics return the negative distance, so every
metric ranks the same way (and matches sentence-transformers' similarity functions).
"""
from __future__ import annotations

import numpy as np

from .errors import InputError

METRICS = ("cosine", "dot", "euclidean", "manhattan")


def _as_tensor(x, name: str):
    import torch

    t = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.ndim == 1:
        t = t.unsqueeze(0)
    if t.ndim != 2:
        raise InputError(f"{name} must be a vector or a matrix of vectors, got shape {tuple(t.shape)}")
    return t.float()


def similarity(a, b=None, metric: str = "cosine", *, pairwise: bool = False):
    """Similarity of the rows of `a` with the rows of `b` (default: `a` itself).

    pairwise=False: an [n, m] matrix; pairwise=True: an [n] vector of sim(a[i], b[i]).
    Returns numpy unless both inputs are torch tensors.
    """
    import torch

    if metric not in METRICS:
        raise InputError(f"unknown metric {metric!r}: expected one of {', '.join(METRICS)}")
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
