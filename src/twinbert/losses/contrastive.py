"""Contrastive loss (Hadsell et al., 2006) for pairs with binary labels:

    loss = mean_i  1/2 * ( y_i * d_i^2 + (1 - y_i) * max(margin - d_i, 0)^2 )

d_i: the distance of the pair, cosine distance 1 - cos(u_i, v_i) by default (margin 0.5, as
sentence-transformers), or euclidean / manhattan. y = 1: similar pair, pulled together;
y = 0: dissimilar, pushed at least `margin` apart.
"""
from __future__ import annotations

import torch

from ._base import Loss, check_distance, distances


class ContrastiveLoss(Loss):
    name = "contrastive"
    columns = (2,)
    label_kind = "binary"
    summary = "contrastive loss on 0/1 labelled pairs"

    def __init__(self, margin: float = 0.5, distance: str = "cosine"):
        super().__init__()
        self.margin = float(margin)
        self.distance = check_distance(distance)

    def forward(self, embeddings: list[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        u, v = (e.float() for e in embeddings)
        d = distances(u, v, self.distance)
        y = labels.float()
        return (0.5 * (y * d.pow(2) + (1 - y) * (self.margin - d).clamp(min=0).pow(2))).mean()
