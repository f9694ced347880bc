"""Triplet loss (Sentence-BERT, eq. 2; Schroff et al., 2015):

    loss = mean_i max( d(a_i, p_i) - d(a_i, n_i) + margin, 0 )

d: euclidean ||x - y||_2 by default (margin 1, as in the paper); manhattan or cosine distance
(1 - cos) as options.
"""
from __future__ import annotations

import torch

from ._base import Loss, check_distance, distances


class TripletLoss(Loss):
    name = "triplet"
    columns = (3,)
    label_kind = None
    summary = "max(d(a,p) - d(a,n) + margin, 0): (anchor, positive, negative) triplets"

    def __init__(self, margin: float = 1.0, distance: str = "euclidean"):
        super().__init__()
        self.margin = float(margin)
        self.distance = check_distance(distance, "triplet distance")

    def forward(self, embeddings: list[torch.Tensor], labels=None) -> torch.Tensor:
        a, p, n = (e.float() for e in embeddings)
        gap = distances(a, p, self.distance) - distances(a, n, self.distance) + self.margin
        return gap.clamp(min=0).mean()
