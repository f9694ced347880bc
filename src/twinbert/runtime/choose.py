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
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError
from . import cpu, sessions

BACKENDS = ("auto", "torch", "onnx", "openvino")
PRECISIONS = ("auto", "float32", "bfloat16", "float16", "int8")
QUALITIES = ("exact", "near", "fast")
# what each runtime backend computes (float16 / bfloat16 on the CPU runtimes: see ORDER)
SUPPORTS = {"torch": ("float32", "bfloat16", "float16"), "onnx": ("float32", "int8"),
            "openvino": ("float32", "bfloat16", "int8")}
ORDER = {"float32": ("onnx", "openvino", "torch"), "bfloat16": ("openvino", "torch"),
         "int8": ("onnx", "openvino"), "float16": ("torch",)}


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
    _check(backend, "backend", BACKENDS)
    _check(precision, "precision", PRECISIONS)
    _check(quality, "quality", QUALITIES)
    on_gpu = device is not None and torch.device(device).type != "cpu"
    reason = f"precision={precision!r}"
    if precision == "auto":
        precision, reason = auto_precision(quality, on_gpu)
    if on_gpu:
        if backend not in ("auto", "torch"):
            raise InputError(f"backend={backend!r} runs on the CPU; use device='cpu', or backend='torch' on "
                             f"{device}", argument="backend")
        if precision == "int8":
            raise InputError("precision='int8' runs on the CPU (backend='onnx' or 'openvino'); on a GPU use "
                             "float16 or bfloat16", argument="precision")
        return Choice("torch", precision, reason + "; GPU: torch")
    if backend != "auto":
        return Choice(_explicit(backend, precision), precision, reason + f"; backend={backend!r} as asked")
    if precision == "bfloat16" and not cpu.native_bf16():
        return Choice("torch", precision, reason + "; bf16 is emulated on this CPU: torch (asked explicitly)")
    for candidate in ORDER[precision]:
        if candidate == "torch" or sessions.available(candidate):
            return Choice(candidate, precision, reason + f"; fastest available for {precision}: {candidate}")
    sessions.require(ORDER[precision][-1])  # raises: none of the runtimes for int8 is installed
    raise AssertionError("unreachable")


def _explicit(backend: str, precision: str) -> str:
    if precision not in SUPPORTS[backend]:
        others = [b for b, tiers in SUPPORTS.items() if precision in tiers]
        raise InputError(f"precision {precision!r} is not computed by backend {backend!r}; use backend "
                         + " or ".join(repr(b) for b in others) + f" for {precision}, or a precision "
                         f"{backend} computes: {', '.join(SUPPORTS[backend])}", argument="precision")
    if backend != "torch":
        sessions.require(backend)
    return backend
