"""Test data for the approximate indexes: clustered unit vectors, and recall@k against an exact index."""
from __future__ import annotations

import numpy as np


def clustered(n: int, dim: int = 64, clusters: int = 50, seed: int = 0, *, centers_seed: int = 99,
              noise: float = 0.5) -> np.ndarray:
    """n unit vectors around `clusters` fixed centres (the same centres for every seed)."""
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(centers_seed).standard_normal((clusters, dim)).astype(np.float32)
    x = centers[rng.integers(0, clusters, n)] + noise * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def recall(index, flat, queries, k: int = 10) -> float:
    """Mean share of the exact top k (flat's) that index's top k holds."""
    got, want = index.search(queries, k=k), flat.search(queries, k=k)
    return float(np.mean([len({h["id"] for h in g} & {h["id"] for h in w}) / k for g, w in zip(got, want)]))
