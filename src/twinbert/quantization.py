"""int8 inference: the transformer's Linear layers as int8 x int8 -> int32 matrix products.

For CPUs without bf16 units (AVX-512 VNNI but no AMX / AVX512-BF16), where bfloat16 is emulated
and slower than float32 while int8 products run at 2-3x the float32 rate. Dynamic quantization:

- weights: symmetric, one scale per output channel, ``s_w = max|w_row| / 127``;
- activations: symmetric, one scale per token (row), ``s_x = max|x_row| / 127``, computed for
  every batch;
- ``y = (q_x @ q_w^T) * s_x * s_w + b``, the product exact in int32.

Everything else (embeddings, LayerNorm, attention scores, softmax, GELU, pooling, Dense) stays
float32. The quantized weights are made once per model and remade when the float weights change
(training); :func:`int8_linears` swaps them in for the duration of a forward pass.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from .errors import InputError

_CACHE_ATTR = "_twinbert_int8"


def quantize_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(int8 rows, float scales [rows, 1]) of a [..., features] tensor, symmetric per row."""
    rows = x.reshape(-1, x.shape[-1]).float()
    scale = rows.abs().amax(dim=1, keepdim=True).clamp_(min=1e-12).div_(127)
    return torch.round(rows / scale).to(torch.int8), scale


class QuantizedLinear:
    """An nn.Linear's weights in int8 (per output channel) and its forward in int8."""

    def __init__(self, linear: nn.Linear, shared: dict | None = None):
        weight = linear.weight.detach().float()
        self.scale = weight.abs().amax(dim=1).clamp(min=1e-12) / 127
        self.weight = torch.round(weight / self.scale[:, None]).to(torch.int8)  # [out, in]
        self.bias = None if linear.bias is None else linear.bias.detach().float()
        # the last input and its quantized form, shared by the layers of one model: the query,
        # key and value projections read the same hidden states, which are quantized once
        self.shared = {} if shared is None else shared

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        last = self.shared.get("input")
        if last is not None and last[0] is x and last[1] == x._version:
            q_x, x_scale = last[2], last[3]
        else:
            q_x, x_scale = quantize_rows(x)
            self.shared["input"] = (x, x._version, q_x, x_scale)
        y = torch._int_mm(q_x, self.weight.t()).float()
        y.mul_(x_scale).mul_(self.scale)
        if self.bias is not None:
            y.add_(self.bias)
        return y.reshape(*shape[:-1], y.shape[-1])


def _linears(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """The Linear layers of the encoder stack (named ...layer.N... or ...layers.N...), not the
    embeddings, the pooler or a head."""
    return [(name, module) for name, module in model.named_modules()
            if isinstance(module, nn.Linear) and {"layer", "layers"} & set(name.split("."))]


def _versions(layers: list[tuple[str, nn.Linear]]) -> tuple:
    return tuple((m.weight.data_ptr(), m.weight._version) for _, m in layers)


def quantized(model: nn.Module) -> dict[str, QuantizedLinear]:
    """The int8 copies of the model's encoder Linear layers, made once and kept on the model
    until its weights change."""
    layers = _linears(model)
    if not layers:
        raise InputError(f"precision int8: found no Linear layers in the encoder layers of "
                         f"{type(model).__name__}")
    if next(model.parameters()).device.type != "cpu":
        raise InputError("precision int8 is the CPU path (VNNI int8 products); on a GPU use float16 or bfloat16")
    cached = getattr(model, _CACHE_ATTR, None)
    versions = _versions(layers)
    if cached is None or cached[0] != versions:
        shared: dict = {}
        cached = (versions, {name: QuantizedLinear(m, shared) for name, m in layers})
        object.__setattr__(model, _CACHE_ATTR, cached)  # not a submodule, not a parameter
    return cached[1]


@contextlib.contextmanager
def int8_linears(model: nn.Module) -> Iterator[None]:
    """Run the model's encoder Linear layers in int8 inside the block (inference only)."""
    table = quantized(model)
    modules = dict(model.named_modules())
    try:
        for name, q in table.items():
            modules[name].forward = q  # an instance attribute: nn.Module.__call__ finds it first
        yield
    finally:
        for name, q in table.items():
            modules[name].__dict__.pop("forward", None)
            q.shared.clear()  # drop the last batch's activations
