"""SentenceEncoder: the one object that turns text into vectors.

A pipeline of small modules, in order: Transformer (backbone + tokenizer) -> Pooling -> [Dense ...]
-> [Normalize]. `encode` runs it through the shared batching engine; `save` writes the
sentence-transformers folder format; `load` (in this module) reads any supported folder or name.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import batching
from .checks import choice, optional_bool, positive_int, text_list
from .errors import InputError, ModelLoadError
from .formats import resolve as resolving
from .formats import st_folder
from .formats.model_folder import save_model
from .modules import pooling as pooling_mod
from .modules.dense import Dense, load_dense
from .modules.normalize import Normalize
from .modules.transformer import Transformer
from .progress import Progress

log = logging.getLogger("twinbert")

PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
OUTPUTS = ("sentence", "token", "all_layers")
CONVERT_TO = ("numpy", "torch")


def parse_precision(precision: str) -> torch.dtype:
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    return PRECISIONS[precision]


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


class SentenceEncoder(nn.Module):
    def __init__(self, transformer: Transformer, pooling: tuple[str, ...] = ("mean",),
                 dense: Iterable[Dense] = (), normalize: bool = False, *, name: str = "",
                 similarity: str = "cosine", prompts: dict | None = None):
        super().__init__()
        self.transformer = transformer
        self.pooling = pooling_mod.parse_modes(pooling)
        self.dense = nn.ModuleList(dense)
        self.normalize = Normalize() if normalize else None
        self.name = name
        self.similarity_fn_name = similarity
        self.prompts = dict(prompts or {})

    # ----------------------------------------------------------------- facts
    @property
    def device(self) -> torch.device:
        return next(self.transformer.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.transformer.model.parameters()).dtype

    @property
    def dimension(self) -> int:
        """Length of the sentence vectors encode() returns with the model's own settings."""
        if len(self.dense):
            return self.dense[-1].out_features
        return self.transformer.hidden_size * len(self.pooling)

    @property
    def max_seq_length(self) -> int:
        return self.transformer.max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        self.transformer.max_seq_length = int(value)

    @property
    def tokenizer(self):
        return self.transformer.tokenizer

    def settings(self) -> dict:
        """The settings that shape the vectors, recorded with every result and index."""
        return {
            "model": self.name,
            "pooling": "+".join(self.pooling),
            "dense": [d.config() for d in self.dense],
            "normalize": self.normalize is not None,
            "max_seq_length": self.max_seq_length,
            "dimension": self.dimension,
            "similarity": self.similarity_fn_name,
            "precision": str(self.dtype).replace("torch.", ""),
            "device": str(self.device),
        }

    def info(self) -> dict:
        cfg = self.transformer.model.config
        return {
            **self.settings(),
            "architecture": (getattr(cfg, "architectures", None) or [type(self.transformer.model).__name__])[0],
            "model_type": cfg.model_type,
            "layers": self.transformer.num_layers,
            "hidden_size": self.transformer.hidden_size,
            "attention_heads": getattr(cfg, "num_attention_heads", None),
            "vocab_size": len(self.tokenizer),
            "parameters": sum(p.numel() for p in self.parameters()),
            "has_pooler": self.transformer.has_pooler,
            "do_lower_case": self.transformer.do_lower_case,
        }

    # -------------------------------------------------------------- training
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Sentence embeddings [batch, dimension] of a padded batch with the model's own settings
        (pooling, Dense, Normalize), differentiable: the training path. encode() is the inference path."""
        out = self.transformer(input_ids, attention_mask, token_type_ids)
        vectors = pooling_mod.pool(self.pooling, out["last_hidden_state"], attention_mask, out["pooler_output"])
        for layer in self.dense:
            vectors = layer(vectors)
        if self.normalize is not None:
            vectors = torch.nn.functional.normalize(vectors, dim=-1)
        return vectors

    # -------------------------------------------------------------- encoding
    def encode(self, texts, *, pooling=None, layers=None, normalize: bool | None = None,
               output: str = "sentence", batch_tokens: int | None = None, precision: str | None = None,
               convert_to: str = "numpy", show_progress: bool | None = None):
        """Encode one text or a list of texts.

        pooling: a mode or list of modes (see twinbert.modules.pooling.MODES); default: the model's.
        layers: None (last), an index, a list of indices (averaged) or "first-last".
        normalize: L2-normalize the vectors; default: whether the model has a Normalize module.
        output: "sentence" -> [n, dim]; "token" -> a list of [tokens_i, hidden] arrays (special
            tokens included, no padding); "all_layers" -> [n, num_layers + 1, hidden], the pooling
            applied to every hidden state (0 = embeddings); Dense modules are not applied to it.
        batch_tokens: the token budget of one batch (rows x longest row).
        precision: "float32", "bfloat16" or "float16" compute (autocast when it differs from the
            weights); the result is always float32.
        convert_to: "numpy" or "torch".
        """
        single = isinstance(texts, str)
        texts = [texts] if single else text_list(texts)
        plan = self._plan(pooling, layers, normalize, output, batch_tokens, precision)
        choice(convert_to, "convert_to", CONVERT_TO)
        if optional_bool(show_progress, "show_progress") is None:
            show_progress = len(texts) >= 5000 and sys.stderr.isatty()
        progress = Progress(len(texts), "encode", enabled=show_progress)
        result = self._encode(texts, plan, progress)
        if show_progress:
            progress.close()
        if convert_to == "torch":
            result = [torch.from_numpy(r) for r in result] if isinstance(result, list) else torch.from_numpy(result)
        return result[0] if single else result

    def encode_stream(self, texts: Iterable[str], *, chunk_rows: int = 8192, total: int | None = None,
                      show_progress: bool = True, pooling=None, layers=None, normalize: bool | None = None,
                      output: str = "sentence", batch_tokens: int | None = None,
                      precision: str | None = None) -> Iterator[np.ndarray]:
        """Encode an iterable of any length chunk by chunk, yielding [rows, dim] arrays in input order,
        so memory stays bounded by one chunk. Options as for encode (output="sentence" only)."""
        if output != "sentence":
            raise InputError(f"encode_stream supports output='sentence' only, got output={output!r}",
                             argument="output")
        plan = self._plan(pooling, layers, normalize, output, batch_tokens, precision)
        positive_int(chunk_rows, "chunk_rows")
        if total is not None and (isinstance(total, bool) or not isinstance(total, int) or total < 0):
            raise InputError(f"total must be None or the number of texts (0 or more), got {total!r}",
                             argument="total")
        show_progress = bool(optional_bool(show_progress, "show_progress"))
        if isinstance(texts, (str, bytes, dict)) or not isinstance(texts, Iterable):
            text_list(texts)  # its error: a single str, bytes, a dict or a non-iterable is no stream of texts
        # checked above, now; the chunks come lazily from here
        return self._stream(texts, plan, chunk_rows, Progress(total, "encode", enabled=show_progress))

    def _stream(self, texts: Iterable[str], plan: dict, chunk_rows: int, progress: Progress) -> Iterator[np.ndarray]:
        chunk: list[str] = []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputError(f"texts[{i}] is {type(text).__name__}, expected str", argument="texts")
            chunk.append(text)
            if len(chunk) >= chunk_rows:
                yield self._encode(chunk, plan, progress)
                chunk = []
        if chunk:
            yield self._encode(chunk, plan, progress)
        if progress.enabled:
            progress.close()

    def _plan(self, pooling, layers, normalize, output, batch_tokens=None, precision=None) -> dict:
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
        modes = self.pooling if pooling is None else pooling_mod.parse_modes(pooling)
        picked = parse_layers(layers, self.transformer.num_layers)
        if "pooler" in modes:
            if picked is not None or output == "all_layers":
                raise InputError("pooling 'pooler' uses pooler_output, which exists for the last layer only; "
                                 "drop layers or choose another pooling", argument="layers")
            if not self.transformer.has_pooler:
                raise InputError(f"pooling 'pooler': model {self.name} has no trained pooler layer "
                                 "(pooler_output); use cls, mean or max")
        width = self.transformer.hidden_size * len(modes)
        if output == "sentence" and len(self.dense) and self.dense[0].in_features != width:
            raise InputError(f"pooling {'+'.join(modes)} gives {width}-dim vectors but the model's Dense "
                             f"module expects {self.dense[0].in_features}")
        do_norm = (self.normalize is not None) if normalize is None else normalize
        return {"modes": modes, "picked": picked, "do_norm": do_norm, "normalize": normalize, "output": output,
                "batch_tokens": batch_tokens or batching.DEFAULT_BATCH_TOKENS, "precision": precision}

    def _encode(self, texts: list[str], plan: dict, progress) -> np.ndarray | list:
        modes, picked, do_norm, normalize = plan["modes"], plan["picked"], plan["do_norm"], plan["normalize"]
        output, precision = plan["output"], plan["precision"]
        tokens = self.transformer.tokenize(texts)
        if tokens.truncated:
            log.warning("%d of %d texts were longer than max_seq_length=%d tokens and were truncated",
                        tokens.truncated, len(texts), self.max_seq_length)
        n_layers = self.transformer.num_layers + 1
        dim = self.transformer.hidden_size * len(modes)
        if output == "sentence":
            result = np.zeros((len(texts), self.dimension if len(self.dense) else dim), dtype=np.float32)
        elif output == "all_layers":
            result = np.zeros((len(texts), n_layers, dim), dtype=np.float32)
        else:
            result = [None] * len(texts)
        all_layers = picked is not None or output == "all_layers"

        def run(index: np.ndarray, batch: tuple) -> None:
            ids, mask, types = batch
            out = self.transformer(ids, mask, types, all_layers=all_layers)
            if output == "all_layers":
                per_layer = [pooling_mod.pool(modes, h, mask) for h in out["hidden_states"]]
                vectors = torch.stack(per_layer, dim=1)
                if do_norm:
                    vectors = torch.nn.functional.normalize(vectors, dim=-1)
                result[index] = vectors.cpu().numpy()
            else:
                states = out["last_hidden_state"] if picked is None else \
                    torch.stack([out["hidden_states"][k].float() for k in picked]).mean(dim=0)
                if output == "token":
                    states = states.float()
                    if do_norm and normalize:
                        states = torch.nn.functional.normalize(states, dim=-1)
                    lengths = mask.sum(dim=1).tolist()
                    for row, i in enumerate(index):
                        result[i] = states[row, :lengths[row]].cpu().numpy()
                else:
                    vectors = pooling_mod.pool(modes, states, mask, out["pooler_output"])
                    for layer in self.dense:
                        vectors = layer(vectors)
                    if do_norm:
                        vectors = torch.nn.functional.normalize(vectors.float(), dim=-1)
                    result[index] = vectors.float().cpu().numpy()
            progress.update(len(index))

        def modes_of_this_thread():
            stack = contextlib.ExitStack()
            stack.enter_context(torch.inference_mode())
            stack.enter_context(self._autocast(precision))
            return stack

        batching.run_batches(tokens.input_ids, tokens.token_type_ids, self.transformer.pad_id, run,
                             batch_tokens=plan["batch_tokens"], device=self.device, context=modes_of_this_thread)
        return result

    def _autocast(self, precision: str | None):
        if precision is None:
            return contextlib.nullcontext()
        dtype = parse_precision(precision)
        if dtype == self.dtype:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    # ---------------------------------------------------------------- saving
    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write a sentence-transformers folder, safely (see twinbert.formats.model_folder): into a missing
        or empty folder, or over a previous model (its files the new model lacks are removed); a folder
        that holds other things needs overwrite=True. Files that are not part of a model are kept."""
        return save_model(path, self._write, overwrite=overwrite)

    def _write(self, tmp: Path) -> None:
        """Write the model's files into the empty folder `tmp`."""
        import safetensors.torch
        import transformers

        self.transformer.save(tmp)
        (tmp / "1_Pooling").mkdir()
        _write_json(tmp / "1_Pooling" / "config.json",
                    pooling_mod.write_config(self.pooling, self.transformer.hidden_size))
        for k, layer in enumerate(self.dense):
            sub = tmp / f"{2 + k}_Dense"
            sub.mkdir()
            _write_json(sub / "config.json", layer.config())
            safetensors.torch.save_file({n: p.detach().cpu().contiguous() for n, p in layer.state_dict().items()},
                                        str(sub / "model.safetensors"))
        mods = st_folder.modules_json(len(self.dense), self.normalize is not None)
        if self.normalize is not None:
            (tmp / mods[-1]["path"]).mkdir()
        _write_json(tmp / "modules.json", mods)
        from . import __version__
        _write_json(tmp / "config_sentence_transformers.json", {
            "__version__": {"twinbert": __version__, "transformers": transformers.__version__,
                            "pytorch": torch.__version__},
            "model_type": "SentenceTransformer",
            "prompts": self.prompts, "default_prompt_name": None,
            "similarity_fn_name": self.similarity_fn_name,
        })


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


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


def load(name_or_path: str | os.PathLike = resolving.DEFAULT_MODEL, device: str | None = None,
         precision: str = "float32", *, pooling: str | None = None, trust_remote_code: bool = False) -> SentenceEncoder:
    """Load a sentence encoder from a folder (sentence-transformers or plain Hugging Face checkpoint)
    or a name. A plain checkpoint gets mean pooling unless `pooling` says otherwise."""
    check_device(device)
    dtype = parse_precision(precision)
    folder = resolving.resolve(name_or_path)
    spec = st_folder.read_folder(folder)
    if not spec.backbone.is_dir():
        raise ModelLoadError(f"{spec.backbone}: the Transformer module folder named in modules.json is missing")
    transformer = Transformer.load(spec.backbone, dtype=dtype, trust_remote_code=trust_remote_code)
    dense = [load_dense(p) for p in spec.dense]
    st_folder.check_widths(spec, transformer.hidden_size, [(d.in_features, d.out_features) for d in dense])
    text = str(name_or_path)
    name = resolving.DEFAULT_MODEL if folder == _bundled_or_none() else (str(folder) if Path(text).expanduser().is_dir() else text)
    encoder = SentenceEncoder(transformer, pooling or spec.pooling or ("mean",), dense, spec.normalize,
                              name=name, similarity=spec.similarity, prompts=spec.prompts)
    encoder.to(device or default_device())
    for layer in encoder.dense:
        layer.to(dtype)
    encoder.eval()
    return encoder


def _bundled_or_none() -> Path | None:
    try:
        return resolving.bundled_default_path()
    except ModelLoadError:
        return None
