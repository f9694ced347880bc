"""Device and precision: explicit arguments with sensible defaults, checked in one place (the encoder,
the BERT heads and the CLI all use these)."""
from __future__ import annotations

import contextlib

import torch

from .errors import InputError

PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def parse_precision(precision: str) -> torch.dtype:
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    return PRECISIONS[precision]


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(device) -> None:
    """A device torch knows and this machine has, as a one-line InputError rather than torch's
    RuntimeError: an unknown name ("gpu"), or CUDA asked for where there is none."""
    if device is None or isinstance(device, torch.device):
        return
    if not isinstance(device, str):
        raise InputError(f"device must be a str such as 'cpu' or 'cuda:0', got {device!r}", argument="device")
    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError):
        raise InputError(f"unknown device {device!r}: expected cpu, cuda, cuda:N, mps ...") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r}: CUDA is not available here (use cpu)")


def autocast(precision: str | None, device: torch.device, weights: torch.dtype):
    """Compute in `precision` where it differs from the weights' dtype (None: the weights' own)."""
    if precision is None:
        return contextlib.nullcontext()
    dtype = parse_precision(precision)
    if dtype == weights:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
