"""Load a checkpoint with one of BERT's pre-training heads: masked-LM or next-sentence prediction.

A checkpoint only carries the heads it was trained with: BertForPreTraining has both, BertForMaskedLM
the masked-LM head, BertForNextSentencePrediction the next-sentence head, a plain encoder (BertModel,
a sentence-transformers model) none. transformers fills a missing head with random weights and goes on;
here that is an error, unless a fresh head is asked for (continued pre-training).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch

from ..errors import InputError, ModelLoadError
from ..formats import st_folder
from ..formats.checkpoint import read_config
from ..formats.resolve import resolve
from ..modules.transformer import Transformer

log = logging.getLogger("twinbert")


@dataclass(frozen=True)
class Head:
    name: str           # in messages: "masked-LM", "next-sentence"
    auto: str           # transformers Auto class
    mapping: str        # transformers' model_type -> class table of that Auto class
    needs_pooler: bool  # the head reads pooler_output, so the pooler must be trained too
    carriers: str       # checkpoint types that have it


HEADS = {
    "masked-lm": Head("masked-LM", "AutoModelForMaskedLM", "MODEL_FOR_MASKED_LM_MAPPING_NAMES", False,
                      "a BertForMaskedLM or BertForPreTraining checkpoint"),
    "next-sentence": Head("next-sentence", "AutoModelForNextSentencePrediction",
                          "MODEL_FOR_NEXT_SENTENCE_PREDICTION_MAPPING_NAMES", True,
                          "a BertForNextSentencePrediction or BertForPreTraining checkpoint"),
}


def _pattern(keys: list[str]) -> str:
    """'cls.predictions.*' for the keys under cls.predictions; the distinct top-level names otherwise."""
    parts = [k.split(".") for k in keys]
    common = []
    for level in zip(*parts):
        if len(set(level)) > 1:
            break
        common.append(level[0])
    if len(keys) == 1:
        return keys[0]
    if common:
        return ".".join(common) + ".*"
    return ", ".join(sorted({p[0] + ".*" for p in parts}))


def load_head(name_or_path: str | os.PathLike, head: str, *, allow_new_head: bool = False,
              device: str | None = None, precision: str = "float32",
              trust_remote_code: bool = False, seed: int | None = None) -> Transformer:
    """A Transformer whose `model` is the backbone with `head` ("masked-lm" or "next-sentence") on top.

    A checkpoint without trained weights for that head raises ModelLoadError, or with
    allow_new_head=True gets a freshly initialized head (listed in `missing_keys`), drawn from torch's
    generator seeded with `seed`.
    A sentence-transformers folder is read through its Transformer module's folder.
    """
    from transformers.models.auto import modeling_auto

    from ..device import default_device, parse_precision

    if head not in HEADS:
        raise InputError(f"unknown head {head!r}: expected one of {', '.join(HEADS)}")
    spec = HEADS[head]
    dtype = parse_precision(precision)
    folder = st_folder.backbone_folder(resolve(name_or_path))
    if not folder.is_dir():
        raise ModelLoadError(f"{folder}: the Transformer module folder named in modules.json is missing")
    config = read_config(folder)
    model_type = config.get("model_type")
    if model_type is not None and model_type not in getattr(modeling_auto, spec.mapping) \
            and "auto_map" not in config:  # remote code may bring its own head
        raise ModelLoadError(f"model {name_or_path} is a {model_type} model, and transformers has no "
                             f"{spec.name} head for {model_type}: use {spec.carriers}")
    if seed is not None:  # a new head starts from the same weights in every process and every run
        torch.manual_seed(seed)
    transformer = Transformer.load(folder, head=spec.auto, dtype=dtype, trust_remote_code=trust_remote_code)
    prefix = transformer.model.base_model_prefix + "."
    missing = transformer.missing_keys
    groups = [[k for k in missing if not k.startswith(prefix)]]  # the head's own weights
    if spec.needs_pooler:
        groups.append([k for k in missing if k.startswith(prefix) and ".pooler." in k])
    absent = ", ".join(_pattern(g) for g in groups if g)
    if absent and not allow_new_head:
        raise ModelLoadError(f"model {name_or_path} has no {spec.name} head ({absent} missing): "
                             f"use {spec.carriers}")
    if absent:
        log.warning("model %s: new, randomly initialized %s head (%s)", name_or_path, spec.name, absent)
    transformer.to(device or default_device())
    transformer.eval()
    return transformer


def load_masked_lm(name_or_path: str | os.PathLike, *, allow_new_head: bool = False, device: str | None = None,
                   precision: str = "float32", trust_remote_code: bool = False,
                   seed: int | None = None) -> Transformer:
    """The backbone with its masked-LM head (BertForMaskedLM / BertForPreTraining checkpoints).
    allow_new_head=True accepts any encoder (e.g. all-MiniLM-L6-v2) with a fresh head (drawn with
    `seed`), to train it or to score the untrained baseline."""
    return load_head(name_or_path, "masked-lm", allow_new_head=allow_new_head, device=device,
                     precision=precision, trust_remote_code=trust_remote_code, seed=seed)


def load_next_sentence(name_or_path: str | os.PathLike, *, device: str | None = None, precision: str = "float32",
                       trust_remote_code: bool = False) -> Transformer:
    """The backbone with its next-sentence head (BertForNextSentencePrediction / BertForPreTraining)."""
    return load_head(name_or_path, "next-sentence", device=device, precision=precision,
                     trust_remote_code=trust_remote_code)
