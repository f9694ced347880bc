"""Training: sentence encoders on datasets with their losses (train_sentence_encoder, one TrainSpec per
dataset), and the one training loop (fit) that the BERT heads train through too; every knob in
TrainConfig. The names are imported on first use, so that the CLI can read TrainConfig without torch.

    from twinbert.train import TrainConfig, TrainSpec, train_sentence_encoder

    train_sentence_encoder("all-MiniLM-L6-v2", [TrainSpec("stsb", "cosine")], TrainConfig(epochs=1), "out")
"""
from __future__ import annotations

import importlib

_LAZY = {
    "TrainConfig": "settings", "TrainSpec": "sentence", "train_sentence_encoder": "sentence",
    "TrainResult": "loop", "fit": "loop", "Objective": "objective",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'twinbert.train' has no attribute {name!r}")


__all__ = list(_LAZY)
