"""The backbones behind the one encoder: torch, ONNX Runtime and OpenVINO, one protocol, one file each.

  backends/     the backbone protocol and the registry; one file per backend (torch.py, onnxruntime.py,
                openvino.py): its name, precisions, devices, extra, how it builds and opens its graph
  choose.py     which backend and precision run on this machine (backend= / precision= / quality=)
  cpu.py        the CPU's model, flags (native bf16, int8 dot products) and measured product rates
  export.py     the backbone (and whole-pipeline) ONNX graphs
  quantize.py   int8: dynamic, or static with calibration sentences; per-channel weights
  sessions.py   each backend's package: imported, or the extra that brings it named
  cache.py      compiled graphs, per model fingerprint, written atomically, checked before use
  backbone.py   GraphBackbone: a compiled-graph backend's backbone (cache, feeds, fallback)
  folder.py     `twinbert export`: sentence-transformers' onnx/ and openvino/ layouts + a standalone graph

`choose.choose(backend, precision, quality, device)` then `attach(encoder, choice)` is what twinbert.load
does; training always runs in torch (the Transformer swaps in the torch backbone when put in train mode).
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
    """Run `encoder`'s backbone with `choice.backend` at `choice.precision` from now on: the backend's file
    opens its backbone (twinbert.runtime.backends). model_folder: where the compiled graphs are cached.
    fallback: on a graph the runtime cannot build, go back to torch with a warning instead of failing
    (backend="auto")."""
    import torch

    from . import backends

    transformer = encoder.transformer
    encoder.choice = choice
    transformer.backbone = backends.get(choice.backend).open(
        transformer, choice.precision, workers=max(1, torch.get_num_threads()), model_folder=model_folder,
        calibration=calibration, fallback=fallback)


__all__ = ["BACKENDS", "PRECISIONS", "QUALITIES", "Choice", "attach"]
