"""EncodeOptions: everything one encode call is asked for, checked and resolved against the model before
any work, in one frozen object that encode, encode_stream, encode_file, the evaluators and the result
documents share (`to_dict()` is what a result records).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .batching import DEFAULT_BATCH_TOKENS
from .checks import choice, optional_bool, positive_int
from .device import PRECISIONS
from .errors import InputError
from .modules.pooling import parse_modes

OUTPUTS = ("sentence", "token", "all_layers")


@dataclass(frozen=True)
class EncodeOptions:
    pooling: tuple[str, ...]                # pooling modes, concatenated in this order
    layers: str | int | tuple = "last"      # as asked: "last", "first-last", an index, indices (recorded)
    hidden_states: tuple[int, ...] | None = None  # ... resolved: hidden states averaged; None = last layer
    normalize: bool = False                 # L2-normalize the output vectors
    output: str = "sentence"                # "sentence", "token" or "all_layers"
    batch_tokens: int = DEFAULT_BATCH_TOKENS  # token budget of one batch (rows x longest row)
    precision: str | None = None            # compute precision (autocast); None: the weights' own
    prompt_name: str | None = None          # the model's prompt used, by name ...
    prompt: str | None = None               # ... and its text, put before every input (None: no prompt)
    apply_dense: bool = True                # run the model's Dense modules (False: the pooled backbone states)
    truncate_dim: int | None = None         # keep the first dimensions (Matryoshka); None: all
    output_dtype: str = "float32"           # float32, float16, int8, uint8, binary, ubinary (twinbert.quantize)

    def to_dict(self) -> dict:
        """JSON-ready, as recorded with results."""
        record = asdict(self)
        record["pooling"] = "+".join(self.pooling)
        for key in ("layers", "hidden_states"):
            if isinstance(record[key], tuple):
                record[key] = list(record[key])
        return record


def layer_indices(layers, num_layers: int, named: str) -> list[int]:
    """Indices into the hidden states (0 = embedding output, num_layers = last layer) from an int,
    a list of ints or "i,j,..." (negative counts from the end); `named` lists the named choices
    of the caller for the error message."""
    n = num_layers + 1
    if isinstance(layers, str):
        try:
            layers = [int(x) for x in layers.split(",")]
        except ValueError:
            raise InputError(f"unknown layers {layers!r}: expected {named}, an index in -{n}..{n - 1}, "
                             "or indices joined by commas") from None
    if isinstance(layers, (int, np.integer)) and not isinstance(layers, bool):
        layers = [int(layers)]
    if not isinstance(layers, (list, tuple)) or not all(
            isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in layers):
        raise InputError(f"layers must be {named}, an int index, a list of int indices or indices joined by "
                         f"commas, got {layers!r}", argument="layers")
    picked = []
    for layer in layers:
        if not -n <= int(layer) < n:
            raise InputError(f"layer {layer} does not exist: this model has hidden states 0..{n - 1} "
                             f"(0 = embeddings, {n - 1} = last layer), negative indices count from the end")
        picked.append(int(layer) % n)
    if not picked:
        raise InputError("layers is empty")
    return picked


def parse_layers(layers, num_layers: int) -> tuple[int, ...] | None:
    """Which hidden states to average, as indices into hidden_states (0 = embedding output,
    num_layers = last layer). None means the last layer.

    Accepts None/"last", an int (negative counts from the end), a list of ints, or strings such as
    "-1", "2,4", "first-last" (mean of the first transformer layer and the last one).
    """
    if layers is None or layers == "last":
        return None
    if isinstance(layers, str) and layers.strip().lower() in ("first-last", "first_last", "first-last-avg"):
        return (1, num_layers)
    picked = layer_indices(layers.strip() if isinstance(layers, str) else layers, num_layers,
                           "'last', 'first-last'")
    return None if picked == [num_layers] else tuple(picked)


def resolve_prompt(encoder, prompt_name, prompt) -> tuple[str | None, str | None]:
    """(prompt name, prompt text) of one call, as sentence-transformers resolves them: `prompt` as given,
    else the model's prompt `prompt_name`, else its default prompt (none when it has no default)."""
    prompts = getattr(encoder, "prompts", None) or {}
    if prompt is not None:
        if not isinstance(prompt, str):
            raise InputError(f"prompt must be a text (str), got {type(prompt).__name__}", argument="prompt")
        if prompt_name is not None:
            raise InputError("give prompt (a text) or prompt_name (one of the model's prompts), not both",
                             argument="prompt_name")
        return None, prompt or None
    if prompt_name is None:
        prompt_name = getattr(encoder, "default_prompt_name", None)
        if prompt_name is None:
            return None, None
    if not isinstance(prompt_name, str) or prompt_name not in prompts:
        declared = ", ".join(map(repr, prompts)) if prompts else "none"
        raise InputError(f"unknown prompt_name {prompt_name!r}: model {getattr(encoder, 'name', '')} has the "
                         f"prompts {declared}; give one of them, or the text itself as prompt=",
                         argument="prompt_name")
    return prompt_name, prompts[prompt_name] or None


def encode_options(encoder, *, pooling=None, layers=None, normalize: bool | None = None, output: str = "sentence",
                   batch_tokens: int | None = None, precision: str | None = None, prompt_name: str | None = None,
                   prompt: str | None = None, apply_dense: bool = True, truncate_dim: int | None = None,
                   output_dtype: str | None = None) -> EncodeOptions:
    """Every encode option checked, in one place, before any work: a wrong type or value is an
    InputError naming the argument and what it accepts (never a TypeError from deep inside)."""
    choice(output, "output", OUTPUTS)
    if pooling is not None and not (isinstance(pooling, str) or (
            isinstance(pooling, (list, tuple)) and pooling and all(isinstance(p, str) for p in pooling))):
        raise InputError(f"pooling must be a mode name such as 'mean', modes joined with '+' or a list of "
                         f"mode names, got {pooling!r}", argument="pooling")
    normalize = optional_bool(normalize, "normalize")
    batch_tokens = positive_int(batch_tokens, "batch_tokens", allow_none=True)
    if precision is not None:
        choice(precision, "precision", PRECISIONS)
    transformer = encoder.transformer
    modes = encoder.pooling.modes if pooling is None else parse_modes(pooling)
    picked = parse_layers(layers, transformer.num_layers)
    if "pooler" in modes:
        if picked is not None or output == "all_layers":
            raise InputError("pooling 'pooler' uses pooler_output, which exists for the last layer only; "
                             "drop layers or choose another pooling", argument="layers")
        if not transformer.has_pooler:
            raise InputError(f"pooling 'pooler': model {encoder.name} has no trained pooler layer "
                             "(pooler_output); use cls, mean or max")
    width = transformer.hidden_size * len(modes)
    if output == "sentence" and apply_dense and len(encoder.dense) and encoder.dense[0].in_features != width:
        raise InputError(f"pooling {'+'.join(modes)} gives {width}-dim vectors but the model's Dense "
                         f"module expects {encoder.dense[0].in_features}")
    if output == "token":  # the model's Normalize is for sentence vectors: token states only when asked
        normalize = normalize is True
    elif normalize is None:
        normalize = encoder.normalize is not None
    prompt_name, prompt = resolve_prompt(encoder, prompt_name, prompt)
    truncate_dim, output_dtype = _compression(encoder, output, truncate_dim, output_dtype)
    return EncodeOptions(
        pooling=modes, layers="last" if layers is None else tuple(layers) if isinstance(layers, list) else layers,
        hidden_states=picked, normalize=normalize, output=output,
        batch_tokens=batch_tokens or DEFAULT_BATCH_TOKENS, precision=precision, prompt_name=prompt_name,
        prompt=prompt, apply_dense=bool(apply_dense), truncate_dim=truncate_dim, output_dtype=output_dtype)


def _compression(encoder, output: str, truncate_dim, output_dtype) -> tuple[int | None, str]:
    """truncate_dim and output_dtype checked (twinbert.quantize): sentence vectors only."""
    from .quantize import check_output_dtype, check_truncate_dim

    output_dtype = check_output_dtype(output_dtype)
    if output != "sentence" and (truncate_dim is not None or output_dtype != "float32"):
        raise InputError(f"truncate_dim and output_dtype apply to sentence vectors, not output={output!r}",
                         argument="truncate_dim" if truncate_dim is not None else "output_dtype")
    return (None if truncate_dim is None else check_truncate_dim(truncate_dim, encoder.dimension)), output_dtype
