"""What every loss shares: it maps the embeddings of a batch's text columns (and the labels) to a scalar.

`name`: the --loss name; `summary`: one line for --help (what it computes, on what data); `columns`: how many
text columns (u, v, ...) the loss accepts; `label_kind`: what the labels are, which is what the trainer asks
of a loss (never its name):
  "score"   a similarity score scaled to [0, 1] per pair
  "class"   an integer class index
  "binary"  0 / 1
  "vector"  a target embedding per row (distillation)
  None      no labels (the structure of the batch is the supervision)
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import InputError
from ..similarity import pairwise_scores, score_matrix

DISTANCES = ("euclidean", "manhattan", "cosine")


class Loss(nn.Module):
    name: str = ""                      # the --loss name
    summary: str = ""                   # its line in --help
    columns: tuple[int, ...] = (2,)
    label_kind: str | None = None

    def forward(self, embeddings: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError


def check_distance(metric: str, what: str = "distance") -> str:
    if metric not in DISTANCES:
        raise InputError(f"unknown {what} {metric!r}: expected one of {', '.join(DISTANCES)}", argument="distance")
    return metric


def distances(a: torch.Tensor, b: torch.Tensor, metric: str) -> torch.Tensor:
    """Row-wise distance: euclidean ||a-b||_2, manhattan ||a-b||_1, cosine 1 - cos(a, b)."""
    score = pairwise_scores(a, b, check_distance(metric))  # twinbert.similarity: higher = closer
    return 1 - score if metric == "cosine" else -score


def cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """cos(a_i, b_j) for every i, j."""
    return score_matrix(a, b, "cosine")
