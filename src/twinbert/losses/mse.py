"""MSE to teacher embeddings: knowledge distillation (Reimers & Gurevych, 2020, multilingual SBERT).

    loss = mean over columns c, rows i, dims k of ( student(x_ci)_k - teacher(s_i)_k )^2

One column: the student mimics the teacher on the same texts. Two columns (source, translation):
the multilingual form, student(source) -> teacher(source) and student(translation) -> teacher(source),
so a translation lands where the teacher puts its source sentence.
"""
from __future__ import annotations

import torch

from ._base import Loss


class MSELoss(Loss):
    name = "mse"
    columns = (1, 2)
    label_kind = "vector"
    summary = "MSE to teacher embeddings (distillation; two columns = source, translation)"

    def forward(self, embeddings: list[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        target = labels.float()
        return torch.stack([(e.float() - target).pow(2).mean() for e in embeddings]).mean()
