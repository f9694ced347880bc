"""Similarity between vectors: the one home of twinbert's metric maths and embedding checks.

Metrics: cosine, dot, euclidean, manhattan; as a matrix (every row of a against every row of b) or
pairwise (row i against row i). Higher is always more similar: the distance metrics give the
NEGATIVE distance, so every metric ranks the same way (and matches sentence-transformers' similarity
functions):

- ``cosine``:    cos(x, y) = x.y / (|x| |y|), in [-1, 1]
- ``dot``:       x.y
- ``euclidean``: -||x - y||_2   (0 is an identical vector)
- ``manhattan``: -||x - y||_1

The public ``similarity`` works on anything array-like; ``score_matrix``, ``pairwise_scores`` and
``normalize`` are the tensor maths under it that the search code, the losses (gradients flow through
them) and the evaluators share. ``as_embedding_matrix`` and ``check_finite`` are the checks of the
search code. torch is imported on first call, so that ``import twinbert`` stays light.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from .checks import choice, optional_bool
from .errors import InputError

if TYPE_CHECKING:
    import torch

METRICS = ("cosine", "dot", "euclidean", "manhattan")
_EPS = 1e-12  # norms below this count as this: a zero vector stays zero instead of turning NaN


def check_metric(metric: Any, name: str = "metric") -> str:
    return choice(metric, name, METRICS)


# --------------------------------------------------------------------------- the maths

def normalize(x):
    """Each row (the last axis) scaled to unit length; numpy in, numpy out; torch in, torch out."""
    if isinstance(x, np.ndarray):
        return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), _EPS)
    import torch

    return torch.nn.functional.normalize(x, dim=-1, eps=_EPS)


def pairwise_scores(x: torch.Tensor, y: torch.Tensor, metric: str) -> torch.Tensor:
    """sim(x[..., i, :], y[..., i, :]) over the last axis (shapes broadcast)."""
    if metric == "cosine":
        import torch

        return torch.nn.functional.cosine_similarity(x, y, dim=-1, eps=_EPS)
    if metric == "dot":
        return (x * y).sum(dim=-1)
    if metric == "euclidean":
        return -(x - y).norm(dim=-1)
    return -(x - y).abs().sum(dim=-1)


def score_matrix(x: torch.Tensor, y: torch.Tensor, metric: str, *, exact: bool = True) -> torch.Tensor:
    """[len(x), len(y)] scores of every row of x against every row of y.

    exact=False lets euclidean use the |x|^2 + |y|^2 - 2 x.y expansion: faster, but it loses precision
    for near-identical vectors (the exact search re-scores its top-k with pairwise_scores)."""
    if metric == "cosine":
        return normalize(x) @ normalize(y).T
    if metric == "dot":
        return x @ y.T
    import torch

    if metric == "euclidean":
        mode = "donot_use_mm_for_euclid_dist" if exact else "use_mm_for_euclid_dist_if_necessary"
        return -torch.cdist(x, y, p=2.0, compute_mode=mode)
    return -torch.cdist(x, y, p=1.0)


# --------------------------------------------------------------------------- the public function

def _as_tensor(x, name: str):
    """`x` as a float [n, dim] tensor; anything but numbers (texts, dicts, None, ragged lists) is an
    InputError naming the argument, not torch's TypeError. NaN passes (NaN in, NaN out, as numpy)."""
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

    check_metric(metric)
    pairwise = bool(optional_bool(pairwise, "pairwise"))
    as_torch = isinstance(a, torch.Tensor) and (b is None or isinstance(b, torch.Tensor))
    x = _as_tensor(a, "a")
    y = x if b is None else _as_tensor(b, "b")
    if x.shape[1] != y.shape[1]:
        raise InputError(f"dimension mismatch: a has {x.shape[1]}-dim vectors, b has {y.shape[1]}-dim")
    if pairwise:
        if x.shape[0] != y.shape[0]:
            raise InputError(f"pairwise similarity needs as many rows in a ({x.shape[0]}) as in b ({y.shape[0]})")
        out = pairwise_scores(x, y, metric)
    else:
        out = score_matrix(x, y, metric)
    return out if as_torch else out.numpy()


# --------------------------------------------------------------------------- the search code's checks

def check_finite(matrix: torch.Tensor, name: str) -> None:
    """Refuse NaN and infinite values, naming the first bad row: torch.topk ranks NaN above every
    number, and one inf makes every score against it inf or NaN. The one finite-check of the search
    code (embeddings, queries, stored vectors all pass through here)."""
    import torch

    # one pass and n floats of memory: a row whose sum is not finite is a suspect (huge finite
    # values may overflow the sum; the exact check below clears them)
    suspects = (~torch.isfinite(matrix.sum(dim=1))).nonzero().flatten()
    if not len(suspects):
        return
    rows = matrix[suspects]
    bad = suspects[~torch.isfinite(rows).all(dim=1)]
    if len(bad):
        row = int(bad[0])
        what = "NaN" if bool(torch.isnan(matrix[row]).any()) else "an infinite value"
        more = f" ({len(bad)} rows are not finite)" if len(bad) > 1 else ""
        raise InputError(f"{name} row {row} has {what}{more}; embeddings must be finite numbers")


def as_embedding_matrix(x: Any, name: str, dtype: torch.dtype | None = None) -> tuple[torch.Tensor, bool]:
    """Turn numpy, torch or nested lists into a 2-D float tensor (no copy where possible), in
    ``dtype`` when given; NaN or infinite values are refused (see check_finite).

    Returns the matrix and whether the input was a single 1-D vector.
    """
    import torch

    if isinstance(x, torch.Tensor):
        t = x.detach()
        if t.is_sparse:
            t = t.to_dense()
    else:
        if isinstance(x, str) or (
            isinstance(x, (list, tuple)) and any(isinstance(item, str) for item in x)
        ):
            raise InputError(f"{name} must be embeddings (numpy array or torch tensor), not texts; "
                             "encode the texts first")
        try:
            arr = np.asarray(x)
        except ValueError as exc:  # ragged nested lists
            raise InputError(f"{name} must be a 1-D or 2-D numeric array: {exc}") from exc
        if arr.dtype.kind not in "iuf":
            raise InputError(f"{name} must be numeric embeddings, got dtype {arr.dtype}")
        with warnings.catch_warnings():  # read-only (e.g. memory-mapped) arrays: we never write to them
            warnings.simplefilter("ignore", UserWarning)
            t = torch.from_numpy(arr)
    if t.ndim not in (1, 2):
        raise InputError(f"{name} must be 1-D (one vector) or 2-D [n, dim], got shape {tuple(t.shape)}")
    single = t.ndim == 1
    if single:
        t = t.unsqueeze(0)
    if t.shape[1] == 0:
        raise InputError(f"{name} has dimension 0; embeddings need at least one component")
    if dtype is not None:
        t = t.to(dtype)  # before the finite check: float64 values beyond float32's range become inf
    elif t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float32)
    check_finite(t, name)
    return t, single


__all__ = ["METRICS", "as_embedding_matrix", "check_finite", "check_metric", "normalize", "pairwise_scores",
           "score_matrix", "similarity"]
