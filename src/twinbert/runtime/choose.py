"""Which backend and precision run, decided per machine: `choose(backend, precision, quality, device)`.

  precision="auto"  the fastest precision of the quality tier asked for:
                      quality="exact" float32 (max abs diff <= 1e-5 to torch fp32)
                      quality="near"  bfloat16 where the hardware computes it natively (CPU: avx512_bf16 /
                                      amx_bf16; CUDA: bf16 support), else float32 (emulated bf16 is slower)
                      quality="fast"  int8 (quantized weights and activations) on the CPU; float16 on a GPU
  backend="auto"    the fastest backend for that precision on this device:
                      GPU       torch
                      float32   onnx, else openvino, else torch (measured: benchmarks/RESULTS.md)
                      bfloat16  openvino on a native-bf16 CPU, else torch
                      int8      onnx (dynamic per-channel; static with calibration), else openvino
                      float16   torch
An explicit backend that cannot run the precision asked for is an InputError naming what to use instead.
What each backend computes, where it runs and its rank come from its file (twinbert.runtime.backends).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from ..errors import InputError
from . import backends, cpu, sessions

PRECISIONS = ("auto", "float32", "bfloat16", "float16", "int8")
QUALITIES = ("exact", "near", "fast")


class _Order(Mapping):
    """precision -> the backends backend="auto" tries for it on the CPU, fastest first: a live view of the
    registry (twinbert.runtime.backends.order), so a backend added with backends.register is seen too."""

    def __getitem__(self, precision: str) -> tuple[str, ...]:
        return backends.order(precision)

    def __iter__(self):
        return (p for p in PRECISIONS if p != "auto")

    def __len__(self) -> int:
        return len(PRECISIONS) - 1


BACKENDS = ("auto", *backends.names())  # the backends at import, for the CLI's choices
ORDER = _Order()


@dataclass(frozen=True)
class Choice:
    backend: str
    precision: str
    reason: str

    def to_dict(self) -> dict:
        return {"backend": self.backend, "precision": self.precision, "reason": self.reason}


def _check(value, name: str, accepted: tuple[str, ...]) -> str:
    if value not in accepted:
        raise InputError(f"unknown {name} {value!r}: expected one of {', '.join(accepted)}", argument=name)
    return value


def auto_precision(quality: str, on_gpu: bool) -> tuple[str, str]:
    """(precision, why) for precision="auto" at `quality` on this machine."""
    if quality == "exact":
        return "float32", "quality='exact'"
    if quality == "near":
        if on_gpu:
            ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
            return ("bfloat16", "GPU with bf16") if ok else ("float16", "GPU without bf16")
        if cpu.native_bf16():
            return "bfloat16", "quality='near' and the CPU computes bf16 natively"
        return "float32", "quality='near' but the CPU only emulates bf16 (slower than fp32)"
    if on_gpu:
        return "float16", "quality='fast' on a GPU"
    return "int8", "quality='fast' on the CPU" + (" (int8 dot-product instructions)" if cpu.fast_int8() else "")


def choose(backend: str = "auto", precision: str = "auto", quality: str = "exact", device=None) -> Choice:
    _check(backend, "backend", ("auto", *backends.names()))
    _check(precision, "precision", PRECISIONS)
    _check(quality, "quality", QUALITIES)
    kind = torch.device(device).type if device is not None else "cpu"
    reason = f"precision={precision!r}"
    if precision == "auto":
        precision, reason = auto_precision(quality, kind != "cpu")
    if kind != "cpu":
        return _on_device(backend, precision, reason, device, kind)
    if backend != "auto":
        return Choice(_explicit(backend, precision), precision, reason + f"; backend={backend!r} as asked")
    if precision == "bfloat16" and not cpu.native_bf16():
        return Choice(backends.REFERENCE, precision,
                      reason + f"; bf16 is emulated on this CPU: {backends.REFERENCE} (asked explicitly)")
    candidates = ORDER[precision]
    for candidate in candidates:
        if sessions.available(candidate):
            return Choice(candidate, precision, reason + f"; fastest available for {precision}: {candidate}")
    sessions.require(candidates[-1])  # raises: none of the runtimes for this precision is installed
    raise AssertionError("unreachable")


def _on_device(backend: str, precision: str, reason: str, device, kind: str) -> Choice:
    """The choice on a device other than the CPU: the backends that run there (torch on a GPU)."""
    here = [name for name in backends.names() if backends.get(name).runs_on(kind)]
    if backend != "auto" and backend not in here:
        raise InputError(f"backend={backend!r} runs on the CPU; use device='cpu', or backend="
                         f"{' or '.join(map(repr, here))} on {device}", argument="backend")
    able = [name for name in ([backend] if backend != "auto" else here) if backends.get(name).supports(precision)]
    if not able:
        cpu_only = [name for name in backends.names() if backends.get(name).supports(precision)]
        raise InputError(f"precision={precision!r} runs on the CPU (backend={' or '.join(map(repr, cpu_only))}); "
                         "on a GPU use float16 or bfloat16", argument="precision")
    return Choice(able[0], precision, reason + f"; GPU: {able[0]}")


def _explicit(backend: str, precision: str) -> str:
    spec = backends.get(backend)
    if not spec.supports(precision):
        others = [name for name in backends.names() if backends.get(name).supports(precision)]
        raise InputError(f"precision {precision!r} is not computed by backend {backend!r}; use backend "
                         + " or ".join(repr(b) for b in others) + f" for {precision}, or a precision "
                         f"{backend} computes: {', '.join(spec.precisions)}", argument="precision")
    sessions.require(backend)
    return backend
