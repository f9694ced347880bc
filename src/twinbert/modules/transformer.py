"""Transformer: a `transformers` backbone and its tokenizer, giving token states of every layer.

This module is the seam for new runtimes and tokenizers. Everything in twinbert that turns text into
token ids calls `Transformer.tokenize` (or `pieces` / `special_frame` for masked-LM blocks), and everything
that turns ids into token states calls `Transformer.forward` (features dict in, features dict out). A new
backend (ONNX Runtime, OpenVINO) replaces what `forward` runs on; a new tokenizer type (SentencePiece
Unigram ...) plugs in behind `tokenize` / `pieces`. Nothing else needs to change.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError, ModelLoadError
from ..formats.checkpoint import field, load_backbone, no_progress_bars, read_json
from ..formats.model_folder import save_model
from ..formats.st_folder import write_tokenizer

log = logging.getLogger("twinbert")


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
                 has_pooler: bool = False):
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        limit = getattr(model.config, "max_position_embeddings", 512) or 512
        if getattr(model.config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
            limit -= 2  # RoBERTa positions start after the padding index
        self.max_seq_length = min(max_seq_length or limit, limit)
        self.do_lower_case = do_lower_case
        self.has_pooler = has_pooler
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._fast = getattr(tokenizer, "backend_tokenizer", None)
        self._specials = None  # compiled pattern of the special tokens, for do_lower_case
        self.missing_keys: list[str] = []  # head (and pooler) weights the checkpoint lacked: new, random
        self.runtime = None  # a twinbert.runtime backbone (ONNX Runtime, OpenVINO) for inference; None: torch

    @classmethod
    def load(cls, folder: Path, *, head: str | None = None, dtype=torch.float32,
             trust_remote_code=False, config_overrides: dict | None = None) -> Transformer:
        """head: a transformers Auto class name (e.g. "AutoModelForMaskedLM") to load the backbone with
        that head on top; the weights the checkpoint lacked are listed in `missing_keys`.
        config_overrides: config fields for the head (see load_backbone)."""
        model, tokenizer, missing = load_backbone(folder, head=head, dtype=dtype,
                                                  trust_remote_code=trust_remote_code,
                                                  config_overrides=config_overrides)
        path = folder / "sentence_bert_config.json"
        st_config = read_json(path) if path.is_file() else {}
        if not isinstance(st_config, dict):
            raise ModelLoadError(f"{path}: expected an object of settings, got {type(st_config).__name__}")
        has_pooler = getattr(model, "pooler", None) is not None and not any("pooler" in k for k in missing)
        # sentence-transformers <= 5 keeps max_seq_length in sentence_bert_config.json; 6.x in the tokenizer
        max_len = field(st_config, "max_seq_length", path, "positive")
        model_max = getattr(tokenizer, "model_max_length", 0)
        if max_len is None and isinstance(model_max, (int, float)) and 0 < model_max < 100_000:
            max_len = int(model_max)
        transformer = cls(model, tokenizer, max_len, field(st_config, "do_lower_case", path, "bool", False),
                          has_pooler)
        transformer.missing_keys = missing
        return transformer

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
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

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
        limit = getattr(self.model.config, "max_position_embeddings", 512) or 512
        if getattr(self.model.config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
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
        if types is not None and getattr(self.model.config, "type_vocab_size", 0) > 1:
            kwargs["token_type_ids"] = types
        return kwargs

    @property
    def backend(self) -> str:
        """What runs the backbone at inference: "torch", "onnx" or "openvino" (twinbert.runtime)."""
        return self.runtime.backend if self.runtime is not None else "torch"

    def train(self, mode: bool = True) -> Transformer:
        """Training runs in torch: a runtime compiled from the weights before training would go stale as
        they change, so it is dropped here (evaluation during training then encodes with the weights
        being trained)."""
        if mode and self.runtime is not None:
            log.info("training: the %s backend is dropped, the model runs in torch from here on",
                     self.runtime.backend)
            self.runtime = None
        return super().train(mode)

    def forward(self, features: dict, all_layers: bool = False) -> dict:
        """features (input_ids, attention_mask, token_type_ids) -> the same dict with token_embeddings
        (last layer), all_layer_embeddings (every hidden state, 0 = embeddings; only with all_layers) and
        pooler_output (None for a model without a trained pooler). At inference with a runtime attached
        (ONNX Runtime, OpenVINO: twinbert.runtime) the runtime computes them; gradients need torch, and
        features["torch"] = True asks for torch (an encode call with a precision of its own: autocast)."""
        if self.runtime is not None and not self.training and not torch.is_grad_enabled() \
                and not features.get("torch"):
            return self.runtime.forward(features, all_layers, self.has_pooler)
        return self.forward_torch(features, all_layers)

    def forward_torch(self, features: dict, all_layers: bool = False) -> dict:
        """forward() through the torch backbone."""
        out = self.model(**self.model_inputs(features), output_hidden_states=all_layers, return_dict=True)
        features["token_embeddings"] = out.last_hidden_state
        features["all_layer_embeddings"] = out.hidden_states if all_layers else None
        features["pooler_output"] = getattr(out, "pooler_output", None) if self.has_pooler else None
        return features

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
