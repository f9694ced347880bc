"""Transformer: a `transformers` backbone and its tokenizer, giving token states of every layer.

This module is the seam for new runtimes and tokenizers. Everything in twinbert that turns text into
token ids calls `Transformer.tokenize` (or `pieces` / `special_frame` for masked-LM blocks), and everything
that turns ids into token states calls `Transformer.forward` (features dict in, features dict out), which
hands them to the one backbone the module holds (`backbone`: torch, ONNX Runtime, OpenVINO ... one file each
in twinbert.runtime.backends, behind one protocol); a new tokenizer type (SentencePiece Unigram ...) plugs in
behind `tokenize` / `pieces`. Nothing else needs to change.

The torch model (`model`) is built from its folder on first use: a backend that runs a cached graph needs
none, so a load that finds its graph cached never builds it (or imports transformers' modeling code).
Whatever needs it builds it by reading `model` (training, backend="torch", a call with a precision of its
own, a graph not cached yet, trimming the vocabulary, the weights: parameters(), state_dict()); moves and
casts asked for before (`.to(device)`) are applied to it then.
"""
from __future__ import annotations

import functools
import json
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from ..errors import InputError, ModelLoadError
from ..formats import checkpoint
from ..formats.checkpoint import field, load_backbone, no_progress_bars, read_json
from ..formats.hashing import weights_state
from ..formats.model_folder import save_model
from ..formats.st_folder import write_tokenizer
from ..runtime import backends
from ..runtime.backends.torch import TorchBackbone

log = logging.getLogger("twinbert")
_BUILDING = threading.RLock()  # one lazy build at a time (the batching engine's threads may all ask at once)
# config.json fields read before the model is built; a config without them builds the model at load
_LIGHT_FIELDS = ("hidden_size", "num_hidden_layers", "vocab_size")


@dataclass
class Tokenized:
    """Token ids of each text, unpadded; `truncated` counts texts cut at max_seq_length."""
    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    truncated: int

    def warn_truncated(self, max_seq_length: int, what: str = "texts") -> Tokenized:
        """One warning counting the inputs cut at max_seq_length (none when nothing was cut)."""
        if self.truncated:
            log.warning("%d of %d %s were longer than max_seq_length=%d tokens and were truncated",
                        self.truncated, len(self.input_ids), what, max_seq_length)
        return self


# A text longer than max_seq_length * CHARS_PER_TOKEN characters is cut before tokenizing. Generous
# (English averages ~4 characters a token); a cut text that then holds too few tokens is tokenized whole
# (see Transformer.tokenize), so this bounds the work, not the correctness.
CHARS_PER_TOKEN = 32


@dataclass
class _Ids:
    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    overflowed: list[bool]


def _cut(text: str, budget: int) -> str:
    """`text` itself when within `budget` characters, else its first `budget` characters, ended at the
    last whitespace so that no word is split (a word cut in two would tokenize differently); a word longer
    than half the budget is cut where the budget ends (its pieces lie past the limit anyway)."""
    if len(text) <= budget:
        return text
    head = text[:budget]
    if not text[budget].isspace():
        space = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
        if space > budget // 2:
            head = head[:space]
    return head


class Transformer(nn.Module):
    """The first module of every pipeline: text -> token ids (`tokenize`) -> token states (`forward`).
    Its folder is a Hugging Face checkpoint (config.json, weights, tokenizer) plus sentence_bert_config.json
    (`config()`: max_seq_length, do_lower_case)."""
    kind = "Transformer"
    config_keys = ("max_seq_length", "do_lower_case")

    def __init__(self, model, tokenizer, max_seq_length: int | None = None, do_lower_case: bool = False,
                 has_pooler: bool = False, *, config=None, build=None, dtype: torch.dtype = torch.float32,
                 source: Path | None = None):
        """model: the transformers model, or None with `build` (() -> (model, has_pooler)) to build it on
        first use, `config` (its config.json's fields) meanwhile and `dtype` (the dtype the build gives).
        source: the folder its weights came from (None: made in memory)."""
        super().__init__()
        self._modules["model"] = model  # None until built (see `model`)
        self._build = build
        self.source = source
        self.model_config = model.config if model is not None else config
        self.built_state = weights_state(model) if model is not None and source is not None else None
        self._built_dtype = dtype
        self._probe = torch.empty(0, dtype=dtype)  # the device and dtype asked for while the model is not built
        self.tokenizer = tokenizer
        limit = self.position_limit
        self.max_seq_length = min(max_seq_length or limit, limit)
        self.do_lower_case = do_lower_case
        self.has_pooler = has_pooler
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._fast = getattr(tokenizer, "backend_tokenizer", None)
        self._specials = None  # compiled pattern of the special tokens, for do_lower_case
        self.missing_keys: list[str] = []  # head (and pooler) weights the checkpoint lacked: new, random
        self.backbone: backends.Backbone = TorchBackbone(self)  # what forward runs (twinbert.runtime.attach)

    @classmethod
    def load(cls, folder: Path, *, head: str | None = None, dtype=torch.float32,
             trust_remote_code=False, config_overrides: dict | None = None, lazy: bool = False) -> Transformer:
        """head: a transformers Auto class name (e.g. "AutoModelForMaskedLM") to load the backbone with
        that head on top; the weights the checkpoint lacked are listed in `missing_keys`.
        config_overrides: config fields for the head (see load_backbone).
        lazy: check the folder and read the tokenizer now, build the bare backbone on first use (see the
        module docstring); a head, config overrides, .bin weights or a config.json without hidden_size,
        num_hidden_layers and vocab_size build it now."""
        light = _light_config(folder) if lazy and head is None and not config_overrides else None
        if light is not None:
            tokenizer, names = _checked(folder, light)
            build = functools.partial(_build_backbone, folder, dtype, trust_remote_code)
            # a guess from the tensor names, confirmed by the build (and by a cached graph's key, see
            # twinbert.runtime.backbone): a model class without a pooler drops the file's pooler
            has_pooler = any("pooler" in name.split(".") for name in names)
            model, missing = None, []
        else:
            model, tokenizer, missing = load_backbone(folder, head=head, dtype=dtype,
                                                      trust_remote_code=trust_remote_code,
                                                      config_overrides=config_overrides)
            has_pooler = getattr(model, "pooler", None) is not None and not any("pooler" in k for k in missing)
            build = None
        path = folder / "sentence_bert_config.json"
        st_config = read_json(path) if path.is_file() else {}
        if not isinstance(st_config, dict):
            raise ModelLoadError(f"{path}: expected an object of settings, got {type(st_config).__name__}")
        # sentence-transformers <= 5 keeps max_seq_length in sentence_bert_config.json; 6.x in the tokenizer
        max_len = field(st_config, "max_seq_length", path, "positive")
        model_max = getattr(tokenizer, "model_max_length", 0)
        if max_len is None and isinstance(model_max, (int, float)) and 0 < model_max < 100_000:
            max_len = int(model_max)
        transformer = cls(model, tokenizer, max_len, field(st_config, "do_lower_case", path, "bool", False),
                          has_pooler, config=light, build=build, dtype=dtype, source=folder)
        transformer.missing_keys = missing
        return transformer

    # ------------------------------------------------------------ the torch model, built on first use
    @property
    def model(self) -> nn.Module:
        """The transformers model, built now if it was not yet (see the module docstring)."""
        return self.build_model()

    def build_model(self) -> nn.Module:
        """Build the transformers model now if it was not yet; returns it."""
        model = self._modules.get("model")
        return model if model is not None else self._materialize()

    @property
    def built_model(self) -> nn.Module | None:
        """The transformers model if it was built, else None (nothing is built)."""
        return self._modules.get("model")

    def _materialize(self) -> nn.Module:
        with _BUILDING:
            if self._modules.get("model") is not None:  # another thread built it meanwhile
                return self._modules["model"]
            log.debug("building the torch model of %s", self.source)
            with torch.inference_mode(False):  # trainable tensors, whatever mode the caller is in
                model, has_pooler = self._build()
                model.to(self._probe.device)
                if self._probe.dtype != self._built_dtype:  # a cast asked for before the build
                    model.to(self._probe.dtype)
            model.train(self.training)
            self._modules["model"] = model
            self.model_config, self.has_pooler = model.config, has_pooler
            self.built_state = weights_state(model)
            return model

    def _apply(self, fn, recurse: bool = True):
        """Moves and casts (.to, .float ...) of a model not built yet are remembered and applied at its build."""
        if self.built_model is None:
            self._probe = fn(self._probe)
            return self
        return super()._apply(fn, recurse)

    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        """Every module, the model built first (parameters(), modules() ... list the weights)."""
        self.build_model()
        return super().named_modules(memo, prefix, remove_duplicate)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        self.build_model()  # state_dict() lists the model's tensors next
        super()._save_to_state_dict(destination, prefix, keep_vars)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        self.build_model()  # load_state_dict() fills the model's tensors next
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def replace_tokenizer(self, tokenizer) -> None:
        """Use `tokenizer` from now on (e.g. a trimmed vocabulary; the embedding table must match it)."""
        self.tokenizer = tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._fast = getattr(tokenizer, "backend_tokenizer", None)
        self._specials = None

    def config(self) -> dict:
        return {"max_seq_length": self.max_seq_length, "do_lower_case": self.do_lower_case}

    @property
    def device(self) -> torch.device:
        """Where the torch weights are (or go when built)."""
        model = self.built_model
        return next(model.parameters()).device if model is not None else self._probe.device

    @property
    def dtype(self) -> torch.dtype:
        model = self.built_model
        return next(model.parameters()).dtype if model is not None else self._probe.dtype

    @property
    def hidden_size(self) -> int:
        return int(self.model_config.hidden_size)

    @property
    def num_layers(self) -> int:
        return int(self.model_config.num_hidden_layers)

    def tokenize(self, texts: list[str], pairs: list[str] | None = None) -> Tokenized:
        """Token ids of each text (or text pair), truncated to max_seq_length tokens: the one place that
        tokenizes for the encoder, the heads and training (a new tokenizer type plugs in here).

        A text far longer than max_seq_length tokens can hold is cut to a character budget first, so a
        5 MB line costs what a normal line costs (tokenizing it whole would take seconds and hundreds of
        MB for ids that are then thrown away). The cut falls on whitespace, so the ids kept are those of
        the whole text; a row whose cut text turns out to hold fewer tokens than the limit (e.g. runs of
        spaces) is tokenized whole instead."""
        budget = self.max_seq_length * CHARS_PER_TOKEN
        short = [_cut(t, budget) for t in texts]
        short_pairs = None if pairs is None else [_cut(t, budget) for t in pairs]
        tokens = self._tokenize(short, short_pairs)
        # a cut is exact when the cut text alone still overflows max_seq_length; a row with any other cut
        # (e.g. runs of spaces, few tokens per character) is tokenized whole
        redo: set[int] = set()
        for side, whole in ((short, texts), (short_pairs, pairs)):
            rows = [] if side is None else [i for i in range(len(texts)) if side[i] is not whole[i]]
            if rows:
                alone = tokens.overflowed if pairs is None else \
                    dict(zip(rows, self._tokenize([side[i] for i in rows], None).overflowed))
                redo.update(i for i in rows if not alone[i])
        if redo:
            rows = sorted(redo)
            again = self._tokenize([texts[i] for i in rows], None if pairs is None else [pairs[i] for i in rows])
            for k, i in enumerate(rows):
                tokens.input_ids[i], tokens.token_type_ids[i] = again.input_ids[k], again.token_type_ids[k]
                tokens.overflowed[i] = again.overflowed[k]
        return Tokenized(tokens.input_ids, tokens.token_type_ids, sum(tokens.overflowed))

    def _tokenize(self, texts: list[str], pairs: list[str] | None) -> _Ids:
        if self.do_lower_case:
            texts = [self._lower(t) for t in texts]
            pairs = None if pairs is None else [self._lower(t) for t in pairs]
        if self._fast is not None:
            tok = self._fast
            tok.no_padding()
            tok.enable_truncation(self.max_seq_length)
            batch = tok.encode_batch(list(zip(texts, pairs)) if pairs is not None else texts)
            return _Ids([e.ids for e in batch], [e.type_ids for e in batch], [bool(e.overflowing) for e in batch])
        full = self.tokenizer(texts, pairs, truncation=False, return_token_type_ids=True)
        ids, types, cut = [], [], []
        for i, t in zip(full["input_ids"], full["token_type_ids"]):
            cut.append(len(i) > self.max_seq_length)
            if cut[-1]:
                i, t = i[:self.max_seq_length - 1] + i[-1:], t[:self.max_seq_length - 1] + t[-1:]
            ids.append(i)
            types.append(t)
        return _Ids(ids, types, cut)

    def _lower(self, text: str) -> str:
        """Lower-case a text but not the special tokens in it ([MASK] stays [MASK])."""
        if self._specials is None:
            tokens = sorted(self.tokenizer.all_special_tokens, key=len, reverse=True)
            self._specials = re.compile("(" + "|".join(re.escape(t) for t in tokens) + ")") if tokens else False
        if not self._specials:
            return text.lower()
        return "".join(p if k % 2 else p.lower() for k, p in enumerate(self._specials.split(text)))

    def pieces(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each whole text, without special tokens and without truncation (masked-LM blocks)."""
        if self._fast is not None:
            return [e.ids for e in self._whole(texts)]
        texts = [self._lower(t) for t in texts] if self.do_lower_case else list(texts)
        return self.tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]

    def _whole(self, texts: list[str]) -> list:
        """The fast tokenizer's encodings of each whole text: lower-cased as tokenize does (special tokens
        kept), without special tokens, truncation or padding."""
        if self.do_lower_case:
            texts = [self._lower(t) for t in texts]
        self._fast.no_truncation()  # tokenize sets its own truncation again on every call
        self._fast.no_padding()
        return self._fast.encode_batch(list(texts), add_special_tokens=False)

    def pieces_with_offsets(self, texts: list[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """(token ids, character span of each token) of each whole text, without special tokens and
        without truncation: what the chunker cuts long documents by (twinbert.chunking). Needs a fast
        tokenizer (the only kind that reports offsets)."""
        if self._fast is None:
            raise InputError("chunking needs a fast (Rust) tokenizer, which reports each token's characters; "
                             "this model's tokenizer is a slow one (save it with tokenizer.json)")
        return [(e.ids, [tuple(o) for o in e.offsets]) for e in self._whole(texts)]

    @property
    def position_limit(self) -> int:
        """The most tokens one forward can take: the position table's size (RoBERTa-style models less
        the two positions before the first token); max_seq_length is at most this."""
        limit = getattr(self.model_config, "max_position_embeddings", 512) or 512
        if getattr(self.model_config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
            limit -= 2  # RoBERTa positions start after the padding index
        return limit

    def special_frame(self) -> tuple[list[int], list[int]]:
        """The special tokens the tokenizer puts before and after one text ([CLS] / [SEP], <s> / </s> ...)."""
        bare = self.tokenizer("a", add_special_tokens=False)["input_ids"]
        full = self.tokenizer("a")["input_ids"]
        for i in range(len(full) - len(bare) + 1):
            if full[i:i + len(bare)] == bare:
                return list(full[:i]), list(full[i + len(bare):])
        raise InputError("cannot tell which special tokens the tokenizer adds around a text")

    def model_inputs(self, features: dict) -> dict:
        """The backbone's keyword arguments from a features dict; token_type_ids only for a model that
        has more than one token type (RoBERTa-style models have one and must not get them)."""
        kwargs = {"input_ids": features["input_ids"], "attention_mask": features["attention_mask"]}
        types = features.get("token_type_ids")
        if types is not None and getattr(self.model_config, "type_vocab_size", 0) > 1:
            kwargs["token_type_ids"] = types
        return kwargs

    @property
    def backend(self) -> str:
        """What runs the backbone at inference: the backbone's backend name (twinbert.runtime.backends)."""
        return self.backbone.backend

    def reference_backbone(self) -> backends.Backbone:
        """The torch backbone (the registry's reference), its model built if it was not."""
        return backends.reference().open(self, None)

    def backbone_for(self, precision: str | None = None) -> backends.Backbone:
        """The backbone of one call: the one held, or the torch one where that cannot serve: gradients (a
        compiled graph has none) or a call's own precision other than the backbone's (torch autocast)."""
        backbone = self.backbone
        if backbone.differentiable:
            return backbone
        if torch.is_grad_enabled() or precision not in (None, backbone.precision):
            return self.reference_backbone()
        return backbone

    def train(self, mode: bool = True) -> Transformer:
        """Training runs in torch: a graph compiled from the weights before training would go stale as
        they change, so the torch backbone takes its place here (evaluation during training then encodes
        with the weights being trained)."""
        if mode and not self.backbone.differentiable:
            log.info("training: the %s backend is dropped, the model runs in torch from here on",
                     self.backbone.backend)
            self.backbone = self.reference_backbone()
        return super().train(mode)

    def forward(self, features: dict, all_layers: bool = False, precision: str | None = None) -> dict:
        """features (input_ids, attention_mask, token_type_ids) -> the same dict with token_embeddings
        (last layer), all_layer_embeddings (every hidden state, 0 = embeddings; only with all_layers) and
        pooler_output (None for a model without a trained pooler), computed by the backbone of the call
        (`backbone_for(precision)`: the one held, or torch for gradients or a precision of the call's own)."""
        return self.backbone_for(precision).forward(features, all_layers)

    def save(self, path, overwrite: bool = False) -> Path:
        """Write the backbone with its head as a Hugging Face folder (config.json, model.safetensors,
        tokenizer), safely: see twinbert.formats.model_folder (a folder holding other things needs
        overwrite=True; the files there are kept)."""
        return save_model(path, self._write, overwrite=overwrite)

    def _write(self, folder: Path) -> None:
        with no_progress_bars():
            self.model.save_pretrained(str(folder), safe_serialization=True)
        write_tokenizer(self.tokenizer, folder, self.max_seq_length)
        (folder / "sentence_bert_config.json").write_text(json.dumps(self.config(), indent=2))


def _light_config(folder: Path) -> SimpleNamespace | None:
    """config.json's fields as attributes, when they hold what is read before the model is built and the
    weights are safetensors (whose tensor names are read without loading them); else None: the model is
    built at load, and its own config answers."""
    config = checkpoint.read_config(folder)
    if "model_type" not in config or any(name not in config for name in _LIGHT_FIELDS):
        return None
    if ".safetensors" not in checkpoint.weights_file(folder).name:
        return None
    return SimpleNamespace(**config)


def _checked(folder: Path, config: SimpleNamespace) -> tuple:
    """What load_backbone checks before it builds the model, for a lazy load: the JSON files, the weights'
    header, the tokenizer (and that it fits the embedding table). Returns (tokenizer, tensor names)."""
    checkpoint.check_json_files(folder)
    weights = checkpoint.weights_file(folder)
    checkpoint.check_weights(weights)
    tokenizer = checkpoint.load_tokenizer(folder)
    if len(tokenizer) > int(config.vocab_size):
        raise ModelLoadError(f"{folder}: the tokenizer has {len(tokenizer)} tokens but the embedding matrix "
                             f"has {config.vocab_size} rows; the tokenizer does not belong to these weights")
    return tokenizer, _tensor_names(weights)


def _tensor_names(weights: Path) -> list[str]:
    """The tensor names of a safetensors checkpoint: its header, or the shards' index."""
    if weights.name.endswith(".index.json"):
        return list(read_json(weights)["weight_map"])
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as handle:
        return list(handle.keys())


def _build_backbone(folder: Path, dtype: torch.dtype, trust_remote_code: bool) -> tuple[nn.Module, bool]:
    """(model, has_pooler) of a lazy Transformer, built from its folder as Transformer.load builds it."""
    model, _, missing = load_backbone(folder, dtype=dtype, trust_remote_code=trust_remote_code)
    return model, getattr(model, "pooler", None) is not None and not any("pooler" in k for k in missing)
