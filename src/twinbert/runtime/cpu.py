"""What this CPU can do, read from the machine itself (never assumed): its model name, the instruction-set
flags that decide the precision tiers, and measured matrix-product rates.

  native bf16   avx512_bf16 or amx_bf16 (x86), or an Arm CPU with the bf16 feature: bf16 products run in
                hardware. Elsewhere bf16 is emulated (slower than fp32), so precision="auto" never picks it.
  fast int8     avx512_vnni, avx_vnni or amx_int8 (x86 dot-product instructions), or Arm's i8mm / asimddp.
"""
from __future__ import annotations

import functools
import platform
import time
from pathlib import Path

BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")
INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8", "i8mm", "asimddp")
# flags recorded with results: those above and the vector widths they build on
RECORDED = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", *BF16_FLAGS, *INT8_FLAGS, "amx_tile")


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> tuple[str, frozenset[str]]:
    """(model name, flags) from /proc/cpuinfo (Linux x86 "flags", Arm "Features"); elsewhere the
    platform's processor name and no flags (then nothing is assumed: no bf16, no fast int8)."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return name, frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "model name" and value.strip():
            name = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return name, frozenset(flags)


def model_name() -> str:
    return _cpuinfo()[0]


def flags() -> frozenset[str]:
    return _cpuinfo()[1]


def native_bf16() -> bool:
    """bf16 arithmetic in hardware (not emulated)."""
    return any(f in flags() for f in BF16_FLAGS)


def fast_int8() -> bool:
    """int8 dot-product instructions (VNNI / AMX / Arm dot product)."""
    return any(f in flags() for f in INT8_FLAGS)


def features() -> dict:
    """What decided the backend and precision, as recorded with results and shown by `twinbert info`."""
    have = flags()
    return {"cpu": model_name(), "flags": [f for f in RECORDED if f in have],
            "native_bf16": native_bf16(), "fast_int8": fast_int8()}


def matmul_rate(dtype: str = "float32", size: int = 512, seconds: float = 0.3) -> float:
    """Measured GFLOP/s (GOP/s for int8) of a size x size matrix product through torch on this machine
    with torch's current thread count: 2 * size**3 operations per product, best of repeated runs."""
    import torch

    if dtype == "int8":
        return _int8_rate(size, seconds)
    kind = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    a, b = torch.randn(size, size).to(kind), torch.randn(size, size).to(kind)
    torch.mm(a, b)  # warm-up: first call picks kernels
    best, end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9


def _int8_rate(size: int, seconds: float) -> float:
    """int8 x int8 -> int32 products through torch's quantized linear (fbgemm / onednn, VNNI where present)."""
    import warnings

    import torch

    warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")  # deprecated, still the int8 path
    x = torch.quantize_per_tensor(torch.randn(size, size), 0.05, 64, torch.quint8)
    w = torch.quantize_per_tensor(torch.randn(size, size), 0.05, 0, torch.qint8)
    packed = torch.ops.quantized.linear_prepack(w, None)
    torch.ops.quantized.linear(x, packed, 0.1, 64)
    best, end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        torch.ops.quantized.linear(x, packed, 0.1, 64)
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9
