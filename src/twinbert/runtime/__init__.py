"""Fast runtimes behind the one encoder: ONNX Runtime and OpenVINO run the backbone step at inference.

  choose.py     which backend and precision run on this machine (backend= / precision= / quality=)
  cpu.py        the CPU's model, flags (native bf16, int8 dot products) and measured product rates
  export.py     the backbone (and whole-pipeline) ONNX graphs
  quantize.py   int8: dynamic, or static with calibration sentences; per-channel weights
  sessions.py   the ONNX Runtime and OpenVINO sessions, each runtime's parallelism
  cache.py      compiled graphs, per model fingerprint, written atomically, checked before use
  backbone.py   RuntimeBackbone: Transformer.forward at inference, through a session
  folder.py     `twinbert export`: sentence-transformers' onnx/ and openvino/ layouts + a standalone graph

`choose.choose(backend, precision, quality, device)` then `attach(encoder, choice)` is what twinbert.load does; training always runs in torch (the Transformer
drops its runtime when put in train mode).
"""
from __future__ import annotations

from pathlib import Path

# the submodules import this package ("from . import cpu"), so it imports none of them at import time
_LAZY = {"BACKENDS": "choose", "PRECISIONS": "choose", "QUALITIES": "choose", "Choice": "choose"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'twinbert.runtime' has no attribute {name!r}")


def attach(encoder, choice, *, model_folder: Path | None = None, calibration: list[str] | None = None,
           fallback: bool = False) -> None:
    """Run `encoder`'s backbone with `choice.backend` at `choice.precision` from now on (torch: detach).
    fallback: on a graph the runtime cannot build, go back to torch with a warning instead of failing
    (backend="auto")."""
    import torch

    from .backbone import RuntimeBackbone

    transformer = encoder.transformer
    encoder.choice = choice
    if choice.backend == "torch":
        transformer.runtime = None
        return
    transformer.runtime = RuntimeBackbone(transformer, choice.backend, choice.precision,
                                          workers=max(1, torch.get_num_threads()), model_folder=model_folder,
                                          calibration=calibration, fallback=fallback)


__all__ = ["BACKENDS", "PRECISIONS", "QUALITIES", "Choice", "attach"]
