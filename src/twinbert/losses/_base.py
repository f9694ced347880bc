"""What every loss shares: it maps the embeddings of a batch's text columns (and the labels) to a scalar.

`columns`: how many text columns (u, v, ...) the loss accepts; `label_kind`: what the labels are:
  "score"   a similarity score scaled to [0, 1] per pair
  "class"   an integer class index
  "binary"  0 / 1
  "vector"  a target embedding per row (distillation)
  None      no labels (the structure of the batch is the supervision)
"""
from __future__ import annotations

import torch
from torch import nn


class Loss(nn.Module):
    name: str = ""                      # the --loss name
    columns: tuple[int, ...] = (2,)
    label_kind: str | None = None

    def forward(self, embeddings: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError


def distances(a: torch.Tensor, b: torch.Tensor, metric: str) -> torch.Tensor:
    """Row-wise distance: euclidean ||a-b||_2, manhattan ||a-b||_1, cosine 1 - cos(a, b)."""
    if metric == "euclidean":
        return (a - b).norm(p=2, dim=-1)
    if metric == "manhattan":
        return (a - b).abs().sum(dim=-1)
    if metric == "cosine":
        return 1 - nn.functional.cosine_similarity(a, b, dim=-1)
    raise ValueError(f"unknown distance {metric!r}: expected euclidean, manhattan or cosine")


def cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """cos(a_i, b_j) for every i, j."""
    return nn.functional.normalize(a, dim=-1) @ nn.functional.normalize(b, dim=-1).T
