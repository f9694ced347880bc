"""Transformer: a `transformers` backbone and its tokenizer, giving token states of every layer."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..formats.checkpoint import load_backbone, no_progress_bars


@dataclass
class Tokenized:
    """Token ids of each text, unpadded; `truncated` counts texts cut at max_seq_length."""
    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    truncated: int


class Transformer(nn.Module):
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
        self.missing_keys: list[str] = []  # weights the checkpoint lacked (newly initialized)

    @classmethod
    def load(cls, folder: Path, *, head: str | None = None, dtype=torch.float32,
             trust_remote_code=False, config_overrides: dict | None = None) -> "Transformer":
        """head: a transformers Auto class name (e.g. "AutoModelForMaskedLM") to load the backbone with
        that head on top; the weights the checkpoint lacked are listed in `missing_keys`.
        config_overrides: config fields for the head (see load_backbone)."""
        model, tokenizer, missing = load_backbone(folder, head=head, dtype=dtype,
                                                  trust_remote_code=trust_remote_code,
                                                  config_overrides=config_overrides)
        st_config = {}
        if (folder / "sentence_bert_config.json").is_file():
            st_config = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
        has_pooler = getattr(model, "pooler", None) is not None and not any("pooler" in k for k in missing)
        # sentence-transformers <= 5 keeps max_seq_length in sentence_bert_config.json; 6.x in the tokenizer
        max_len = st_config.get("max_seq_length")
        if max_len is None and 0 < (getattr(tokenizer, "model_max_length", 0) or 0) < 100_000:
            max_len = int(tokenizer.model_max_length)
        transformer = cls(model, tokenizer, max_len, bool(st_config.get("do_lower_case")), has_pooler)
        transformer.missing_keys = missing
        return transformer

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    def tokenize(self, texts: list[str], pairs: list[str] | None = None) -> Tokenized:
        if self.do_lower_case:
            texts = [self._lower(t) for t in texts]
            pairs = None if pairs is None else [self._lower(t) for t in pairs]
        if self._fast is not None:
            tok = self._fast
            tok.no_padding()
            tok.enable_truncation(self.max_seq_length)
            batch = tok.encode_batch(list(zip(texts, pairs)) if pairs is not None else texts)
            return Tokenized([e.ids for e in batch], [e.type_ids for e in batch],
                             sum(1 for e in batch if e.overflowing))
        full = self.tokenizer(texts, pairs, truncation=False, return_token_type_ids=True)
        ids, types, cut = [], [], 0
        for i, t in zip(full["input_ids"], full["token_type_ids"]):
            if len(i) > self.max_seq_length:
                cut += 1
                i, t = i[:self.max_seq_length - 1] + i[-1:], t[:self.max_seq_length - 1] + t[-1:]
            ids.append(i)
            types.append(t)
        return Tokenized(ids, types, cut)

    def _lower(self, text: str) -> str:
        """Lower-case a text but not the special tokens in it ([MASK] stays [MASK])."""
        if self._specials is None:
            tokens = sorted(self.tokenizer.all_special_tokens, key=len, reverse=True)
            self._specials = re.compile("(" + "|".join(re.escape(t) for t in tokens) + ")") if tokens else False
        if not self._specials:
            return text.lower()
        return "".join(p if k % 2 else p.lower() for k, p in enumerate(self._specials.split(text)))

    def forward(self, input_ids, attention_mask, token_type_ids=None, all_layers: bool = False) -> dict:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None and getattr(self.model.config, "type_vocab_size", 0) > 1:
            kwargs["token_type_ids"] = token_type_ids
        out = self.model(**kwargs, output_hidden_states=all_layers, return_dict=True)
        return {
            "last_hidden_state": out.last_hidden_state,
            "hidden_states": out.hidden_states if all_layers else None,
            "pooler_output": getattr(out, "pooler_output", None) if self.has_pooler else None,
        }

    def save(self, folder: Path) -> None:
        with no_progress_bars():
            self.model.save_pretrained(str(folder), safe_serialization=True)
        self.tokenizer.model_max_length = self.max_seq_length  # where sentence-transformers 6 reads it
        self.tokenizer.save_pretrained(str(folder))
        (folder / "sentence_bert_config.json").write_text(
            json.dumps({"max_seq_length": self.max_seq_length, "do_lower_case": self.do_lower_case}, indent=2))
