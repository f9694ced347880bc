"""Matryoshka wrapper (Kusupati et al., 2022): the wrapped loss on nested prefixes of the embedding.

    loss = sum_d  w_d * L( [e_1[:d], e_2[:d], ...], labels )      for d in dims (e.g. 384, 256, 128, 64)

so the first d dimensions alone make a usable embedding; truncate (and re-normalize) at inference.
Losses whose parameters depend on the dimension (softmax) cannot be wrapped.
"""
from __future__ import annotations

import torch

from ..errors import InputError
from ._base import Loss


class MatryoshkaLoss(Loss):
    def __init__(self, loss: Loss, dims: list[int], weights: list[float] | None = None):
        super().__init__()
        if any(p.requires_grad for p in loss.parameters()):
            raise InputError(f"{type(loss).__name__} has parameters sized to the full embedding; "
                             "it cannot be wrapped in a Matryoshka loss", argument="loss")
        if not dims or any(int(d) < 1 for d in dims):
            raise InputError(f"matryoshka dims {dims!r}: expected positive dimensions, e.g. 384,256,128,64",
                             argument="dims")
        self.loss = loss
        self.dims = [int(d) for d in dims]
        self.weights = [float(w) for w in weights] if weights else [1.0] * len(self.dims)
        if len(self.weights) != len(self.dims):
            raise InputError("matryoshka weights: one weight per dimension expected", argument="weights")
        self.name = loss.name
        self.columns = loss.columns
        self.label_kind = loss.label_kind

    def forward(self, embeddings: list[torch.Tensor], labels=None) -> torch.Tensor:
        return sum(w * self.loss([e[..., :d] for e in embeddings], labels) for d, w in zip(self.dims, self.weights))
