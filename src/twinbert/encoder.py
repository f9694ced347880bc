"""SentenceEncoder: the one object that turns text into vectors.

A pipeline of small modules, in order: Transformer (tokenizer + backbone) -> Pooling -> [Dense ...]
-> [Normalize] (see twinbert.modules). Training (`forward`) and inference (`encode`, through the shared
batching engine) run the same pool-and-project path; `save` asks each module to write its own folder of
the sentence-transformers format; `load` (in this module) builds the modules from any supported folder
or name.
"""
from __future__ import annotations

import contextlib
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
from .device import autocast, check_device, default_device, parse_precision
from .encode_options import EncodeOptions, encode_options
from .errors import InputError, ModelLoadError
from .formats import resolve as resolving
from .formats import st_folder
from .formats.model_folder import save_model
from .modules.dense import Dense
from .modules.normalize import Normalize, l2
from .modules.pooling import Pooling
from .modules.transformer import Transformer
from .progress import Progress
from .quantize import quantize, truncate

log = logging.getLogger("twinbert")

CONVERT_TO = ("numpy", "torch")
# how each module type of a model folder is built from its folder (see formats/st_folder.read_folder)
LOADERS = {"Pooling": Pooling.load, "Dense": Dense.load, "Normalize": Normalize.load}

__all__ = ["SentenceEncoder", "EncodeOptions", "load", "check_device", "default_device", "parse_precision"]


class SentenceEncoder(nn.Module):
    """The modules, in order: `transformer`, `pooling`, `dense` (a list, maybe empty) and `normalize`
    (None when the model does not normalize); `pipeline` lists them. Their attribute names are the
    prefixes of the weights' names (state_dict), which index fingerprints and training checkpoints keep."""

    def __init__(self, transformer: Transformer, pooling: Pooling | tuple[str, ...] | str = ("mean",),
                 dense: Iterable[Dense] = (), normalize: Normalize | bool | None = None, *, name: str = "",
                 similarity: str = "cosine", prompts: dict | None = None, default_prompt_name: str | None = None):
        super().__init__()
        self.transformer = transformer
        self.pooling = pooling if isinstance(pooling, Pooling) else Pooling(pooling)
        if self.pooling.dimension is None:
            self.pooling.dimension = transformer.hidden_size
        self.dense = nn.ModuleList(dense)
        self.normalize = (normalize if isinstance(normalize, Normalize) else Normalize()) if normalize else None
        self.name = name
        self.similarity_fn_name = similarity
        self.prompts = dict(prompts or {})
        self.default_prompt_name = default_prompt_name

    @property
    def pipeline(self) -> list[nn.Module]:
        """Every module, in the order they run (and are saved)."""
        return [self.transformer, *self.head()]

    def head(self, options: EncodeOptions | None = None) -> list[nn.Module]:
        """The modules after the Transformer: the model's own, or as one encode call's options change them
        (other pooling modes, normalize on or off, the Dense modules left out)."""
        if options is None:
            return [self.pooling, *self.dense, *([self.normalize] if self.normalize is not None else [])]
        pooling = self.pooling if options.pooling == self.pooling.modes else self.pooling.with_modes(options.pooling)
        dense = list(self.dense) if options.apply_dense and options.output == "sentence" else []
        return [pooling, *dense, *([self.normalize or Normalize()] if options.normalize else [])]

    # ----------------------------------------------------------------- facts
    @property
    def device(self) -> torch.device:
        return self.transformer.device

    @property
    def dtype(self) -> torch.dtype:
        return self.transformer.dtype

    @property
    def backend(self) -> str:
        """What runs the backbone at inference: "torch", "onnx" (ONNX Runtime), "openvino" (or any backend
        registered in twinbert.runtime.backends)."""
        return self.transformer.backend

    @property
    def precision(self) -> str:
        """The precision the backbone computes in at inference: float32, bfloat16, float16 or int8."""
        return self.transformer.backbone.precision

    def runtime_info(self) -> dict:
        """Backend, precision, why they were chosen and the CPU features that decided them (recorded by
        `twinbert info` and result documents)."""
        from .runtime import cpu

        choice = getattr(self, "choice", None)
        record = {"backend": self.backend, "precision": self.precision,
                  "reason": choice.reason if choice is not None else "set in code"}
        record.update(self.transformer.backbone.describe())
        return {**record, **cpu.features()}

    @property
    def dimension(self) -> int:
        """Length of the sentence vectors encode() returns with the model's own settings."""
        if len(self.dense):
            return self.dense[-1].out_features
        return self.transformer.hidden_size * len(self.pooling.modes)

    @property
    def max_seq_length(self) -> int:
        return self.transformer.max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        self.transformer.max_seq_length = int(value)

    @property
    def tokenizer(self):
        return self.transformer.tokenizer

    def options(self, **encode_kwargs) -> EncodeOptions:
        """encode()'s keyword arguments (pooling, layers, normalize, output, batch_tokens, precision,
        prompt_name, prompt), checked and resolved against this model."""
        return encode_options(self, **encode_kwargs)

    def settings(self, options: EncodeOptions | None = None, **encode_kwargs) -> dict:
        """What shapes the vectors, recorded with every result and index: the model's own settings, or
        those of one call (`options`, or encode()'s keyword arguments)."""
        options = options if options is not None else self.options(**encode_kwargs)
        dense = [d.config() for d in self.head(options) if isinstance(d, Dense)]
        if dense:
            dimension = dense[-1]["out_features"]
        else:
            dimension = self.transformer.hidden_size * (1 if options.output == "token" else len(options.pooling))
        return {
            "model": self.name,
            "pooling": "+".join(options.pooling),
            "layers": list(options.layers) if isinstance(options.layers, tuple) else options.layers,
            "dense": dense,
            "normalize": options.normalize,
            "prompt_name": options.prompt_name,
            "prompt": options.prompt,
            "max_seq_length": self.max_seq_length,
            "dimension": min(dimension, options.truncate_dim or dimension),
            **({"output_dtype": options.output_dtype} if options.output_dtype != "float32" else {}),
            "similarity": self.similarity_fn_name,
            "precision": options.precision or self.precision,
            "backend": self.backend,
            "device": str(self.device),
        }

    def info(self) -> dict:
        cfg = self.transformer.model_config
        return {
            **self.settings(),
            "prompts": self.prompts,
            "default_prompt_name": self.default_prompt_name,
            "architecture": (getattr(cfg, "architectures", None) or [type(self.transformer.model).__name__])[0],
            "model_type": cfg.model_type,
            "layers": self.transformer.num_layers,
            "hidden_size": self.transformer.hidden_size,
            "attention_heads": getattr(cfg, "num_attention_heads", None),
            "vocab_size": len(self.tokenizer),
            "parameters": sum(p.numel() for p in self.parameters()),
            "has_pooler": self.transformer.has_pooler,
            "do_lower_case": self.transformer.do_lower_case,
            "runtime": self.runtime_info(),
        }

    # ------------------------------------------------ the pool-and-project path
    @staticmethod
    def pool_and_project(features: dict, head: list[nn.Module]) -> dict:
        """Token states -> features["sentence_embedding"] through the head modules (Pooling, Dense ...,
        Normalize): the one path of training and inference."""
        for module in head:
            features = module(features)
        return features

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Sentence embeddings [batch, dimension] of a padded batch with the model's own modules,
        differentiable: the training path. encode() is the inference path."""
        features = self.transformer({"input_ids": input_ids, "attention_mask": attention_mask,
                                     "token_type_ids": token_type_ids})
        return self.pool_and_project(features, self.head())["sentence_embedding"]

    # -------------------------------------------------------------- encoding
    def encode(self, texts, *, pooling=None, layers=None, normalize: bool | None = None,
               output: str = "sentence", batch_tokens: int | None = None, precision: str | None = None,
               convert_to: str = "numpy", show_progress: bool | None = None, prompt_name: str | None = None,
               prompt: str | None = None, truncate_dim: int | None = None, output_dtype: str | None = None,
               ranges=None, chunking: str | None = None, chunk_tokens: int | None = None,
               overlap: int | None = None):
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
        prompt_name: one of the model's prompts (`encoder.prompts`, e.g. "query" / "passage"); prompt: a
            text of your own. It is put before every text, and its tokens are pooled with the text's (as in
            sentence-transformers). Neither: the model's default prompt (`default_prompt_name`), if any.
        truncate_dim: keep the first dimensions (Matryoshka models), normalized again when normalize is on.
        output_dtype: "float32" (default), "float16", "int8", "uint8", "binary" or "ubinary" (twinbert.quantize);
            int8 / uint8 are calibrated with `ranges` ([2, dim] from twinbert.quantize.calibration_ranges of a
            sample of the corpus), or with these vectors' own min / max when None.
        chunking: long texts, one vector per chunk: "chunks" (each chunk encoded on its own) or "late" (late
            chunking: chunk spans pooled from the token states of the whole document); None or "none": one
            vector per text, cut at max_seq_length. Returns a twinbert.chunking.ChunkedEmbeddings (vectors,
            document: the text of each chunk, spans: its characters). chunk_tokens (default 256, at most what
            max_seq_length leaves) and overlap (default 32 tokens) size the chunks (twinbert.chunking).
        """
        single = isinstance(texts, str)
        texts = [texts] if single else text_list(texts)
        options = self.options(pooling=pooling, layers=layers, normalize=normalize, output=output,
                               batch_tokens=batch_tokens, precision=precision, prompt_name=prompt_name,
                               prompt=prompt, truncate_dim=truncate_dim, output_dtype=output_dtype)
        choice(convert_to, "convert_to", CONVERT_TO)
        if chunking not in (None, "none"):
            return self._encode_chunked(texts, options, chunking, chunk_tokens, overlap, convert_to, ranges)
        if chunk_tokens is not None or overlap is not None:
            raise InputError("chunk_tokens and overlap size the chunks of chunking='chunks' or 'late'; "
                             "give chunking too", argument="chunking")
        if optional_bool(show_progress, "show_progress") is None:
            show_progress = len(texts) >= 5000 and sys.stderr.isatty()
        progress = Progress(len(texts), "encode", enabled=show_progress)
        result = self.run(texts, options, progress)
        if show_progress:
            progress.close()
        if options.output_dtype != "float32":  # calibrated on these vectors unless ranges are given
            result = quantize(result, options.output_dtype, ranges)
        if convert_to == "torch":
            result = [torch.from_numpy(r) for r in result] if isinstance(result, list) else torch.from_numpy(result)
        return result[0] if single else result

    def _encode_chunked(self, texts: list[str], options: EncodeOptions, chunking: str, chunk_tokens, overlap,
                        convert_to: str, ranges):
        from .chunking import embed_chunked

        result = embed_chunked(self, texts, options, chunking, chunk_tokens, overlap)
        if options.output_dtype != "float32":
            result.vectors = quantize(result.vectors, options.output_dtype, ranges)
        if convert_to == "torch":
            result.vectors = torch.from_numpy(result.vectors)
        return result

    def encode_stream(self, texts: Iterable[str], *, chunk_rows: int = 8192, total: int | None = None,
                      show_progress: bool = True, options: EncodeOptions | None = None,
                      **encode_kwargs) -> Iterator[np.ndarray]:
        """Encode an iterable of any length chunk by chunk, yielding [rows, dim] arrays in input order,
        so memory stays bounded by one chunk. `options`, or encode()'s keyword arguments (output="sentence"
        only)."""
        options = options if options is not None else self.options(**encode_kwargs)
        if options.output != "sentence":
            raise InputError(f"encode_stream supports output='sentence' only, got output={options.output!r}",
                             argument="output")
        if options.output_dtype != "float32":
            raise InputError("encode_stream yields float32 chunks; quantize each with "
                             "twinbert.quantize.quantize(chunk, output_dtype, ranges) and one set of ranges",
                             argument="output_dtype")
        positive_int(chunk_rows, "chunk_rows")
        if total is not None and (isinstance(total, bool) or not isinstance(total, int) or total < 0):
            raise InputError(f"total must be None or the number of texts (0 or more), got {total!r}",
                             argument="total")
        show_progress = bool(optional_bool(show_progress, "show_progress"))
        if isinstance(texts, (str, bytes, dict)) or not isinstance(texts, Iterable):
            text_list(texts)  # its error: a single str, bytes, a dict or a non-iterable is no stream of texts
        # checked above, now; the chunks come lazily from here
        return self._stream(texts, options, chunk_rows, Progress(total, "encode", enabled=show_progress))

    def _stream(self, texts: Iterable[str], options: EncodeOptions, chunk_rows: int,
                progress: Progress) -> Iterator[np.ndarray]:
        chunk: list[str] = []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputError(f"texts[{i}] is {type(text).__name__}, expected str", argument="texts")
            chunk.append(text)
            if len(chunk) >= chunk_rows:
                yield self.run(chunk, options, progress)
                chunk = []
        if chunk:
            yield self.run(chunk, options, progress)
        if progress.enabled:
            progress.close()

    def run(self, texts: list[str], options: EncodeOptions, progress: Progress | None = None) -> np.ndarray | list:
        """The inference path for checked texts and options: prompt, tokenize, then `run_tokens`.
        [n, dim] float32 (a list of [tokens_i, hidden] arrays for output="token")."""
        texts, prompt_length = self.apply_prompt(texts, options.prompt)
        tokens = self.transformer.tokenize(texts).warn_truncated(self.max_seq_length)
        return self.run_tokens(tokens.input_ids, tokens.token_type_ids, options, prompt_length=prompt_length,
                               progress=progress)

    def run_tokens(self, input_ids: list[list[int]], token_type_ids: list[list[int]] | None, options: EncodeOptions,
                   *, prompt_length: int = 0, batch_tokens: int | None = None,
                   progress: Progress | None = None) -> np.ndarray | list:
        """Rows of token ids (special tokens and any prompt already in them; the prompt's first
        `prompt_length` tokens) through the batching engine and the pipeline, as `encode` runs texts.
        `batch_tokens` overrides the options' padded-batch budget (the server cuts it for packed calls)."""
        head = self.head(options)
        pooled = self.transformer.hidden_size * len(options.pooling)
        if options.output == "sentence":
            dims = [d.out_features for d in head if isinstance(d, Dense)]
            result = np.zeros((len(input_ids), dims[-1] if dims else pooled), dtype=np.float32)
        elif options.output == "all_layers":
            result = np.zeros((len(input_ids), self.transformer.num_layers + 1, pooled), dtype=np.float32)
        else:
            result = [None] * len(input_ids)

        def store(index: np.ndarray, batch: tuple) -> None:
            out = self._embed_batch(batch, options, head, prompt_length)
            if options.output == "token":
                lengths = batch[1].sum(dim=1).tolist()
                for row, i in enumerate(index):
                    result[i] = out[row, :lengths[row]].cpu().numpy()
            else:
                result[index] = out.cpu().numpy()
            if progress is not None:
                progress.update(len(index))

        def modes_of_this_thread():
            stack = contextlib.ExitStack()
            stack.enter_context(torch.inference_mode())
            stack.enter_context(autocast(options.precision, self.device, self.dtype))
            return stack

        if input_ids:
            batching.run_batches(input_ids, token_type_ids, self.transformer.pad_id, store,
                                 batch_tokens=batch_tokens or options.batch_tokens,
                                 device=self.transformer.backbone.device,
                                 context=modes_of_this_thread, workers=self.workers)
        if options.truncate_dim is not None and options.output != "token":
            result = truncate(result, options.truncate_dim, options.normalize)
        return result

    @property
    def workers(self) -> int | None:
        """How many batches run at once on the CPU: the backbone says (ONNX Runtime / OpenVINO: the workers
        they take); None lets the batching engine decide (torch)."""
        return self.transformer.backbone.workers

    def _embed_batch(self, batch: tuple, options: EncodeOptions, head: list[nn.Module],
                     prompt_length: int) -> torch.Tensor:
        """One padded batch through the pipeline: [rows, dim] sentence vectors, [rows, layers, dim] for
        output="all_layers", or the [rows, tokens, hidden] token states for output="token"."""
        ids, mask, types = batch
        features = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        if prompt_length:
            features["prompt_length"] = prompt_length
        every = options.hidden_states is not None or options.output == "all_layers"
        features = self.transformer(features, all_layers=every, precision=options.precision)
        if options.output == "all_layers":  # the pooling (and normalize) applied to every hidden state
            per_layer = [head[0]({**features, "token_embeddings": h, "pooler_output": None})["sentence_embedding"]
                         for h in features["all_layer_embeddings"]]
            vectors = torch.stack(per_layer, dim=1)
            return l2(vectors) if options.normalize else vectors
        if options.hidden_states is not None:
            states = features["all_layer_embeddings"]
            features["token_embeddings"] = torch.stack([states[k].float() for k in options.hidden_states]).mean(dim=0)
        if options.output == "token":
            states = features["token_embeddings"].float()
            return l2(states) if options.normalize else states
        return self.pool_and_project(features, head)["sentence_embedding"].float()

    def apply_prompt(self, texts: list[str], prompt: str | None) -> tuple[list[str], int]:
        """The prompt rule, the one place it is written (encode, the server's routes and training call it):
        `prompt` (a call's resolved prompt text, `options.prompt`; None or "": none) put before every text,
        and prompt_length, the tokens it takes at the start of each tokenized row: the special token before it
        included, a trailing special token not (sentence-transformers' rule, for Pooling's
        include_prompt=False). Returns (prompted texts, prompt_length); texts may be empty (the length alone)."""
        if not prompt:
            return list(texts), 0
        ids = self.transformer.tokenize([prompt]).input_ids[0]
        length = len(ids) - 1 if ids and ids[-1] in self.tokenizer.all_special_ids else len(ids)
        return [prompt + t for t in texts], length

    # ---------------------------------------------------------------- saving
    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write a sentence-transformers folder, safely (see twinbert.formats.model_folder): into a missing
        or empty folder, or over a previous model (its files the new model lacks are removed); a folder
        that holds other things needs overwrite=True. Files that are not part of a model are kept."""
        return save_model(path, self._write, overwrite=overwrite)

    def _write(self, tmp: Path) -> None:
        """Write the model's files into the empty folder `tmp`: each module into its own folder (the
        Transformer first, into `tmp` itself), then modules.json and config_sentence_transformers.json."""
        import transformers

        from . import __version__

        modules = self.pipeline
        entries = st_folder.modules_json([m.kind for m in modules])
        for module, entry in zip(modules, entries):
            if entry["path"]:
                (tmp / entry["path"]).mkdir()
            module.save(tmp / entry["path"])
        st_folder.write_json(tmp / "modules.json", entries)
        st_folder.write_json(tmp / "config_sentence_transformers.json", {
            "__version__": {"twinbert": __version__, "transformers": transformers.__version__,
                            "pytorch": torch.__version__},
            "model_type": "SentenceTransformer",
            "prompts": self.prompts, "default_prompt_name": self.default_prompt_name,
            "similarity_fn_name": self.similarity_fn_name,
        })


def load(name_or_path: str | os.PathLike = resolving.DEFAULT_MODEL, device: str | None = None,
         precision: str = "float32", *, pooling: str | None = None, trust_remote_code: bool = False,
         backend: str = "auto", quality: str = "exact", calibration: list[str] | None = None) -> SentenceEncoder:
    """Load a sentence encoder from a folder (sentence-transformers or plain Hugging Face checkpoint)
    or a name. A plain checkpoint gets mean pooling unless `pooling` says otherwise.

    backend: "auto" (the fastest exact backend here: OpenVINO or ONNX Runtime on the CPU, torch on a GPU),
        "torch", "onnx" or "openvino"; training always runs in torch.
    precision: "float32" (exact), "bfloat16", "float16" (torch), "int8" (onnx / openvino) or "auto": the
        fastest precision of `quality` ("exact", "near" or "fast") on this hardware (twinbert.runtime.choose).
    calibration: sentences of your own to fix int8 activation ranges (static int8); default dynamic int8.
    `encoder.backend` and `encoder.precision` say what runs."""
    from .runtime import attach, backends
    from .runtime.choose import choose

    check_device(device)
    choice = choose(backend, precision, quality, device or default_device())
    if calibration is not None:
        calibration = text_list(calibration, "calibration")
        if choice.precision != "int8":
            raise InputError(f"calibration sentences are for precision='int8'; this load runs {choice.precision}",
                             argument="calibration")
    # torch computes in its weights' dtype; every other backend builds its graph from float32 weights
    dtype = parse_precision(choice.precision if backends.is_reference(choice.backend) else "float32")
    folder = resolving.resolve(name_or_path)
    # the torch model is built when the backend needs it: a graph read from the cache needs none
    loaders = {**LOADERS, "Transformer": lambda path: Transformer.load(path, dtype=dtype, lazy=True,
                                                                       trust_remote_code=trust_remote_code)}
    spec = st_folder.read_folder(folder, loaders)
    transformer, rest = spec.modules[0], spec.modules[1:]
    folder_pooling = next((m for m in rest if isinstance(m, Pooling)), None) or Pooling(("mean",))
    text = str(name_or_path)
    name = resolving.DEFAULT_MODEL if folder == _bundled_or_none() else (str(folder) if Path(text).expanduser().is_dir() else text)
    encoder = SentenceEncoder(transformer, folder_pooling.with_modes(pooling) if pooling else folder_pooling,
                              [m for m in rest if isinstance(m, Dense)], any(isinstance(m, Normalize) for m in rest),
                              name=name, similarity=spec.similarity, prompts=spec.prompts,
                              default_prompt_name=spec.default_prompt_name)
    encoder.to(device or default_device())
    for layer in encoder.dense:
        layer.to(dtype)
    encoder.eval()
    attach(encoder, choice, model_folder=folder, calibration=calibration,
                   fallback=backend == "auto" and choice.precision == "float32")
    return encoder


def _bundled_or_none() -> Path | None:
    try:
        return resolving.bundled_default_path()
    except ModelLoadError:
        return None
