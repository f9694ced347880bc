"""Dense: a linear layer with an activation on the sentence vector (sentence-transformers' Dense)."""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ModelLoadError

# Activation names as sentence-transformers stores them; resolved from this table only (no imports by name).
ACTIVATIONS = {
    "torch.nn.modules.activation.Tanh": nn.Tanh,
    "torch.nn.modules.linear.Identity": nn.Identity,
    "torch.nn.modules.activation.ReLU": nn.ReLU,
    "torch.nn.modules.activation.GELU": nn.GELU,
    "torch.nn.modules.activation.Sigmoid": nn.Sigmoid,
    "torch.nn.modules.activation.SiLU": nn.SiLU,
}


class Dense(nn.Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 activation: str = "torch.nn.modules.activation.Tanh"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ModelLoadError(f"Dense activation_function {activation!r} is not supported; "
                                 "expected one of " + ", ".join(ACTIVATIONS))
        self.in_features, self.out_features, self.bias = in_features, out_features, bias
        self.activation_name = activation
        self.linear = nn.Linear(in_features, out_features, bias=bias)
        self.activation = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.linear(x.to(self.linear.weight.dtype))).float()

    def config(self) -> dict:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias, "activation_function": self.activation_name}


def load_dense(folder) -> Dense:
    """Read a sentence-transformers Dense folder: config.json + model.safetensors (or pytorch_model.bin)."""
    import json
    from pathlib import Path

    folder = Path(folder)
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        dense = Dense(int(cfg["in_features"]), int(cfg["out_features"]), bool(cfg.get("bias", True)),
                      cfg.get("activation_function") or "torch.nn.modules.linear.Identity")
    except (OSError, ValueError, KeyError) as e:
        raise ModelLoadError(f"{folder / 'config.json'}: unreadable Dense config ({e})") from e
    if (folder / "model.safetensors").is_file():
        from safetensors.torch import load_file
        try:
            state = load_file(str(folder / "model.safetensors"))
        except Exception as e:
            raise ModelLoadError(f"{folder / 'model.safetensors'}: corrupt weights ({e})") from e
    elif (folder / "pytorch_model.bin").is_file():
        state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    else:
        raise ModelLoadError(f"{folder}: Dense module without weights (model.safetensors)")
    try:
        dense.load_state_dict(state)
    except RuntimeError as e:
        raise ModelLoadError(f"{folder}: Dense weights do not match its config.json ({e})") from e
    return dense
