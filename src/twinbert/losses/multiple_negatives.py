"""Multiple-negatives ranking loss (Henderson et al., 2017; in-batch negatives):

    s_ij = scale * cos(a_i, c_j),   c = [p_1..p_B, n_1..n_B]   (hard negatives n optional)
    loss = mean_i  -log( exp(s_ii) / sum_j exp(s_ij) )

Each anchor's positive must outrank every other positive in the batch (and every hard negative).
scale 20 as in sentence-transformers. Duplicate texts inside a batch are false negatives: train with
the no-duplicates batching the trainer uses for this loss.
"""
from __future__ import annotations

import torch
from torch import nn

from ._base import Loss, cosine_matrix


class MultipleNegativesRankingLoss(Loss):
    name = "mnrl"
    columns = (2, 3)
    label_kind = None
    summary = "multiple-negatives ranking with in-batch negatives (+ hard negatives): pairs or triplets"

    def __init__(self, scale: float = 20.0):
        super().__init__()
        self.scale = float(scale)

    def forward(self, embeddings: list[torch.Tensor], labels=None) -> torch.Tensor:
        anchors = embeddings[0].float()
        candidates = torch.cat([e.float() for e in embeddings[1:]], dim=0)
        scores = cosine_matrix(anchors, candidates) * self.scale
        target = torch.arange(len(anchors), device=anchors.device)
        return nn.functional.cross_entropy(scores, target)
