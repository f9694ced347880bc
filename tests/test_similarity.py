"""twinbert.similarity against hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from twinbert import similarity
from twinbert.errors import InputError

A = np.array([[3.0, 4.0], [1.0, 0.0]])
B = np.array([[0.0, 2.0], [1.0, 1.0], [-1.0, 0.0]])


def test_cosine_matrix():
    expected = np.array([[0.8, 7 / 5 / np.sqrt(2), -0.6], [0.0, 1 / np.sqrt(2), -1.0]])
    np.testing.assert_allclose(similarity(A, B, "cosine"), expected, atol=1e-6)


def test_dot_euclidean_manhattan_matrix():
    np.testing.assert_allclose(similarity(A, B, "dot"), [[8, 7, -3], [0, 1, -1]], atol=1e-6)
    np.testing.assert_allclose(similarity(A, B, "euclidean"),
                               -np.array([[np.sqrt(13), np.sqrt(13), np.sqrt(32)], [np.sqrt(5), 1, 2]]), atol=1e-5)
    np.testing.assert_allclose(similarity(A, B, "manhattan"), -np.array([[5, 5, 8], [3, 1, 2]]), atol=1e-6)


def test_pairwise():
    np.testing.assert_allclose(similarity(A, B[:2], "cosine", pairwise=True), [0.8, 1 / np.sqrt(2)], atol=1e-6)
    np.testing.assert_allclose(similarity(A, B[:2], "manhattan", pairwise=True), [-5, -1], atol=1e-6)
    np.testing.assert_allclose(similarity(A, B[:2], "euclidean", pairwise=True), [-np.sqrt(13), -1], atol=1e-6)
    np.testing.assert_allclose(similarity(A, B[:2], "dot", pairwise=True), [8, 1], atol=1e-6)


def test_vectors_self_and_torch():
    assert similarity([1.0, 0.0], [0.0, 1.0]).shape == (1, 1)
    self_sim = similarity(A)
    np.testing.assert_allclose(np.diag(self_sim), [1, 1], atol=1e-6)
    t = similarity(torch.tensor(A), torch.tensor(B), "dot")
    assert isinstance(t, torch.Tensor) and t.shape == (2, 3)


def test_errors():
    with pytest.raises(InputError, match="unknown metric 'l2'"):
        similarity(A, B, "l2")
    with pytest.raises(InputError, match="dimension mismatch"):
        similarity(A, np.ones((2, 3)))
    with pytest.raises(InputError, match="as many rows"):
        similarity(A, B, pairwise=True)
