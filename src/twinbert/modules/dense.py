"""Dense: a linear layer with an activation on the sentence vector (sentence-transformers' Dense)."""
from __future__ import annotations

from pathlib import Path

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
    """Read a sentence-transformers Dense folder: config.json + model.safetensors (or pytorch_model.bin).
    The weights must match the config exactly: a missing, extra or differently shaped tensor is an error."""
    from ..formats.checkpoint import field, mismatch_error, read_json, read_weights

    folder = Path(folder)
    if not folder.is_dir():
        raise ModelLoadError(f"{folder}: the Dense module folder listed in modules.json is missing")
    path = folder / "config.json"
    cfg = read_json(path)
    if not isinstance(cfg, dict):
        raise ModelLoadError(f"{path}: expected an object of settings, got {type(cfg).__name__}")
    sizes = [field(cfg, name, path, "positive") for name in ("in_features", "out_features")]
    if None in sizes:
        name = ("in_features", "out_features")[sizes.index(None)]
        raise ModelLoadError(f"{path}: field {name!r} is missing; expected a positive whole number")
    activation = field(cfg, "activation_function", path, "str", "torch.nn.modules.linear.Identity")
    if activation not in ACTIVATIONS:
        raise ModelLoadError(f"{path}: field 'activation_function' is {activation!r}; expected one of "
                             + ", ".join(ACTIVATIONS))
    dense = Dense(*sizes, field(cfg, "bias", path, "bool", True), activation)
    file = next((folder / f for f in ("model.safetensors", "pytorch_model.bin") if (folder / f).is_file()), None)
    if file is None:
        raise ModelLoadError(f"{folder}: Dense module without weights (model.safetensors)")
    state = read_weights(file)
    want = {k: tuple(v.shape) for k, v in dense.state_dict().items()}
    got = {k: tuple(getattr(v, "shape", ())) for k, v in state.items()} if isinstance(state, dict) else {}
    mismatched = [(k, got[k], want[k]) for k in want if k in got and got[k] != want[k]]
    if want.keys() != got.keys() or mismatched:
        raise mismatch_error(file, path, sorted(want.keys() - got.keys()), sorted(got.keys() - want.keys()),
                             mismatched)
    dense.load_state_dict(state)
    return dense
