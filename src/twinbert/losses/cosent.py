"""CoSENT loss (Su, 2022): a ranking loss over all pairs of pairs in the batch.

    loss = log( 1 + sum_{(i,j): y_i > y_j} exp( scale * (cos_j - cos_i) ) )

cos_k = cos(u_k, v_k); y: gold scores (any scale, only their order matters); scale 20.
"""
from __future__ import annotations

import torch

from ..similarity import pairwise_scores
from ._base import Loss


class CoSENTLoss(Loss):
    name = "cosent"
    columns = (2,)
    label_kind = "score"
    summary = "CoSENT ranking of pairs by gold score: STS scores"

    def __init__(self, scale: float = 20.0):
        super().__init__()
        self.scale = float(scale)

    def forward(self, embeddings: list[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        u, v = (e.float() for e in embeddings)
        cos = pairwise_scores(u, v, "cosine") * self.scale
        diff = cos[None, :] - cos[:, None]            # diff[i, j] = cos_j - cos_i
        wanted = labels[:, None] > labels[None, :]    # y_i > y_j
        diff = diff[wanted]
        zero = torch.zeros(1, dtype=diff.dtype, device=diff.device)
        return torch.logsumexp(torch.cat([zero, diff]), dim=0)
