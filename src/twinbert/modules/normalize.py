"""Normalize: scale each sentence vector to unit L2 length (so dot product = cosine)."""
from __future__ import annotations

import torch
from torch import nn


class Normalize(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(x, p=2, dim=-1)
