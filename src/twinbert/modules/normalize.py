"""Normalize: scale each sentence vector to unit L2 length (so dot product = cosine). No weights, no
config: sentence-transformers may not even create its folder, and twinbert leaves it empty."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def l2(x: torch.Tensor) -> torch.Tensor:
    """x / ||x|| along the last axis, in float32 (the one normalization of encoder outputs)."""
    return torch.nn.functional.normalize(x.float(), p=2, dim=-1)


class Normalize(nn.Module):
    kind = "Normalize"
    config_keys = ()

    def forward(self, features: dict) -> dict:
        features["sentence_embedding"] = l2(features["sentence_embedding"])
        return features

    def config(self) -> dict:
        return {}

    @classmethod
    def load(cls, folder: Path | None = None) -> Normalize:
        return cls()

    def save(self, folder: Path) -> None:
        """Nothing to write: the (empty) folder is the module."""
