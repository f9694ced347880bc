"""Pooling: token states [batch, seq, hidden] + attention mask -> one vector per sentence.

Modes (several may be concatenated, in the order given):
  cls            the first token's state ([CLS] for BERT)
  mean           mean of the real (unmasked) tokens' states
  max            element-wise max over the real tokens
  mean_sqrt_len  sum of the real tokens' states / sqrt(number of real tokens)
  weighted_mean  position-weighted mean, weight i for the i-th real token (SGPT)
  last_token     the last real token's state
  pooler         the backbone's pooler_output (BERT: tanh(W h_[CLS] + b), trained on NSP)

The maths is `pool`; `Pooling` is the module of the encoder's pipeline (sentence-transformers' Pooling:
features["token_embeddings"] + ["attention_mask"] -> ["sentence_embedding"]), which reads and writes its
config.json in both of sentence-transformers' schemas.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import InputError, ModelLoadError
from ..formats.checkpoint import field, read_json
from ..formats.st_folder import write_json

MODES = ("cls", "mean", "max", "mean_sqrt_len", "weighted_mean", "last_token", "pooler")

# sentence-transformers' names for the same modes (the compact `pooling_mode` form) ...
_ST_NAMES = {
    "cls": "cls", "mean": "mean", "max": "max", "mean_sqrt_len": "mean_sqrt_len_tokens",
    "weighted_mean": "weightedmean", "last_token": "lasttoken",
}
# ... and its legacy boolean flags, in the order sentence-transformers concatenates them.
_LEGACY_FLAGS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
    "pooling_mode_weightedmean_tokens": "weighted_mean",
    "pooling_mode_lasttoken": "last_token",
}
_ALIASES = {**{v: k for k, v in _ST_NAMES.items()}, "weightedmean": "weighted_mean",
            "lasttoken": "last_token", "mean_sqrt_len_tokens": "mean_sqrt_len", "pooler_output": "pooler"}


def parse_modes(pooling: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """'mean', 'cls+max', ['cls', 'mean'] or sentence-transformers names -> canonical mode tuple."""
    parts = pooling.split("+") if isinstance(pooling, str) else list(pooling)
    modes = []
    for part in parts:
        name = _ALIASES.get(part.strip(), part.strip())
        if name not in MODES:
            raise InputError(f"unknown pooling {part!r}: expected one of {', '.join(MODES)} "
                             "(or several joined with '+')")
        modes.append(name)
    if not modes:
        raise InputError("pooling is empty: expected one of " + ", ".join(MODES))
    return tuple(modes)


def pool(modes: tuple[str, ...], token_states: torch.Tensor, attention_mask: torch.Tensor,
         pooler_output: torch.Tensor | None = None) -> torch.Tensor:
    """Pool [batch, seq, hidden] token states into [batch, hidden * len(modes)] (float32 math)."""
    states = token_states.float()
    mask = attention_mask.to(states.dtype).unsqueeze(-1)  # [B, L, 1]
    counts = mask.sum(dim=1).clamp(min=1.0)  # [B, 1]
    out = []
    for mode in modes:
        if mode == "cls":  # the first real token: position 0, or the first after an excluded prompt
            first = attention_mask.long().argmax(dim=1)
            out.append(states[torch.arange(states.shape[0], device=states.device), first])
        elif mode == "mean":
            out.append((states * mask).sum(dim=1) / counts)
        elif mode == "mean_sqrt_len":
            out.append((states * mask).sum(dim=1) / counts.sqrt())
        elif mode == "max":
            out.append(states.masked_fill(mask == 0, float("-inf")).max(dim=1).values)
        elif mode == "weighted_mean":
            positions = torch.arange(1, states.shape[1] + 1, dtype=states.dtype, device=states.device)
            weights = mask * positions.view(1, -1, 1)
            out.append((states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9))
        elif mode == "last_token":  # the last real token (right padding)
            last = states.shape[1] - 1 - attention_mask.long().flip(1).argmax(dim=1)
            out.append(states[torch.arange(states.shape[0], device=states.device), last])
        elif mode == "pooler":
            if pooler_output is None:
                raise InputError("pooling 'pooler' needs the backbone's pooler_output, "
                                 "which is only defined for the last layer of a model with a pooler")
            out.append(pooler_output.float())
    return out[0] if len(out) == 1 else torch.cat(out, dim=-1)


def read_config(config: dict, source: str) -> tuple[str, ...]:
    """Pooling modes from a sentence-transformers Pooling config.json (either schema)."""
    if "pooling_mode" in config:
        mode = config["pooling_mode"]
        if not isinstance(mode, str) and not (isinstance(mode, list) and all(isinstance(m, str) for m in mode)):
            raise InputError(f"{source}: field 'pooling_mode' is {mode!r}; expected a mode such as 'mean' or a "
                             "list of modes")
        return parse_modes(mode)
    modes = tuple(mode for flag, mode in _LEGACY_FLAGS.items() if config.get(flag))
    if not modes:
        raise InputError(f"{source}: no pooling mode set (expected 'pooling_mode' or one of "
                         + ", ".join(_LEGACY_FLAGS) + " set to true)")
    return modes


def write_config(modes: tuple[str, ...], dimension: int, include_prompt: bool = True) -> dict:
    """A Pooling config.json that both schemas understand: the compact `pooling_mode` (read by
    sentence-transformers >= 5) and the legacy boolean flags (older readers, text-embeddings-inference)."""
    if "pooler" in modes:
        raise InputError("pooling 'pooler' cannot be saved in the sentence-transformers Pooling format; "
                         "choose one of " + ", ".join(_ST_NAMES))
    names = [_ST_NAMES[m] for m in modes]
    config: dict = {"word_embedding_dimension": dimension, "embedding_dimension": dimension}
    config.update({flag: mode in modes for flag, mode in _LEGACY_FLAGS.items()})
    config["pooling_mode"] = names[0] if len(names) == 1 else names
    config["include_prompt"] = include_prompt
    return config


class Pooling(nn.Module):
    """The pooling step of the pipeline. `dimension` is the width of the token states (the Transformer's
    hidden size); `include_prompt=False` leaves the prompt's tokens out of the pooling (INSTRUCTOR-style
    models; sentence-transformers' default, and twinbert's, is True: a prompt's tokens are pooled)."""
    kind = "Pooling"
    config_keys = ("modes", "dimension", "include_prompt")

    def __init__(self, modes=("mean",), dimension: int | None = None, include_prompt: bool = True):
        super().__init__()
        self.modes = parse_modes(modes)
        self.dimension = dimension
        self.include_prompt = bool(include_prompt)

    def config(self) -> dict:
        """The config.json sentence-transformers (any version) and text-embeddings-inference read."""
        return write_config(self.modes, self.dimension, self.include_prompt)

    @classmethod
    def from_config(cls, config: dict, source: str) -> Pooling:
        """From a Pooling config.json's content (either schema); `source` names it in errors."""
        path = Path(source)
        try:
            modes = read_config(config, source)
        except InputError as e:  # a broken model folder, not bad user input: name the file
            message = str(e)
            raise ModelLoadError(message if message.startswith(source) else f"{source}: {message}") from None
        # sentence-transformers <= 5 writes word_embedding_dimension, 6.x embedding_dimension
        dimension = field(config, "word_embedding_dimension", path, "positive")
        if dimension is None:
            dimension = field(config, "embedding_dimension", path, "positive")
        return cls(modes, dimension, field(config, "include_prompt", path, "bool", True))

    @classmethod
    def load(cls, folder: Path) -> Pooling:
        path = Path(folder) / "config.json"
        config = read_json(path)
        if not isinstance(config, dict):
            raise ModelLoadError(f"{path}: expected an object of settings, got {type(config).__name__}")
        return cls.from_config(config, str(path))

    def save(self, folder: Path) -> None:
        write_json(Path(folder) / "config.json", self.config())

    def with_modes(self, modes) -> Pooling:
        """The same pooling step with other modes (one encode call's `pooling=`)."""
        return Pooling(modes, self.dimension, self.include_prompt)

    def forward(self, features: dict) -> dict:
        mask = features["attention_mask"]
        prompt_length = features.get("prompt_length") or 0
        if prompt_length and not self.include_prompt:
            mask = mask.clone()
            mask[:, :prompt_length] = 0
        features["sentence_embedding"] = pool(self.modes, features["token_embeddings"], mask,
                                              features.get("pooler_output"))
        return features
