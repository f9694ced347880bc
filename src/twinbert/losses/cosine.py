"""Cosine-similarity regression (Sentence-BERT's STS objective, section 3):

    loss = mean_i ( cos(u_i, v_i) - y_i )^2

y_i: the gold similarity score scaled to [0, 1] (STS-B: score / 5).
"""
from __future__ import annotations

import torch
from torch import nn

from ..similarity import pairwise_scores
from ._base import Loss


class CosineSimilarityLoss(Loss):
    name = "cosine"
    columns = (2,)
    label_kind = "score"
    summary = "MSE between cos(u, v) and the gold score scaled to [0, 1]: STS scores"

    def forward(self, embeddings: list[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        u, v = (e.float() for e in embeddings)
        return nn.functional.mse_loss(pairwise_scores(u, v, "cosine"), labels.float())
