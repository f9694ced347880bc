"""Dense: a linear layer with an activation on the sentence vector (sentence-transformers' Dense):
features["sentence_embedding"] -> activation(W x + b). Its folder holds config.json and model.safetensors."""
from __future__ import annotations

from pathlib import Path

import safetensors.torch
from torch import nn

from ..errors import ModelLoadError
from ..formats.checkpoint import field, mismatch_error, read_json, read_weights
from ..formats.st_folder import write_json

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
    kind = "Dense"
    config_keys = ("in_features", "out_features", "bias", "activation_function")

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

    def forward(self, features: dict) -> dict:
        x = features["sentence_embedding"]
        # computed in the weights' precision, handed on in float32 like the pooled vectors
        features["sentence_embedding"] = self.activation(self.linear(x.to(self.linear.weight.dtype))).float()
        return features

    def config(self) -> dict:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias, "activation_function": self.activation_name}

    @classmethod
    def from_config(cls, config: dict, path: Path) -> Dense:
        """A new (random) Dense from its config.json's content; a wrong field is a ModelLoadError naming it."""
        if not isinstance(config, dict):
            raise ModelLoadError(f"{path}: expected an object of settings, got {type(config).__name__}")
        sizes = [field(config, name, path, "positive") for name in ("in_features", "out_features")]
        if None in sizes:
            name = ("in_features", "out_features")[sizes.index(None)]
            raise ModelLoadError(f"{path}: field {name!r} is missing; expected a positive whole number")
        activation = field(config, "activation_function", path, "str", "torch.nn.modules.linear.Identity")
        if activation not in ACTIVATIONS:
            raise ModelLoadError(f"{path}: field 'activation_function' is {activation!r}; expected one of "
                                 + ", ".join(ACTIVATIONS))
        return cls(*sizes, field(config, "bias", path, "bool", True), activation)

    @classmethod
    def load(cls, folder) -> Dense:
        """Read a sentence-transformers Dense folder: config.json + model.safetensors (or pytorch_model.bin).
        The weights must match the config exactly: a missing, extra or differently shaped tensor is an error."""
        folder = Path(folder)
        if not folder.is_dir():
            raise ModelLoadError(f"{folder}: the Dense module folder listed in modules.json is missing")
        path = folder / "config.json"
        dense = cls.from_config(read_json(path), path)
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

    def save(self, folder: Path) -> None:
        write_json(Path(folder) / "config.json", self.config())
        safetensors.torch.save_file({n: p.detach().cpu().contiguous() for n, p in self.state_dict().items()},
                                    str(Path(folder) / "model.safetensors"))
