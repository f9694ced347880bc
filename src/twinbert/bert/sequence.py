"""A transformers sequence-classification model (AutoModelForSequenceClassification) over one text or a
text pair ([CLS] a [SEP] b [SEP]): the core shared by the sentiment classifier and the cross-encoder.

Loading: a folder that has the trained head, or, to train one, any encoder checkpoint (a plain
checkpoint or the backbone of a sentence-transformers folder such as all-MiniLM-L6-v2) with a new,
randomly initialized head. Inference runs through the shared batching engine (length-sorted
token-budget batches). Saving writes, atomically, a plain Hugging Face folder (config.json with
id2label / label2id, model.safetensors, tokenizer) that transformers' AutoModelForSequenceClassification
loads as it is.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import batching
from ..errors import InputError, ModelLoadError
from ..formats import st_folder
from ..formats.checkpoint import read_config
from ..formats.model_folder import save_model
from ..formats.resolve import resolve
from ..modules.transformer import Tokenized, Transformer
from ..progress import Progress

log = logging.getLogger("twinbert")

HEAD = "AutoModelForSequenceClassification"
INFO_KEY = "twinbert"  # config.json field with what twinbert knows about the head (kind, loss, base model)


def _has_head(config: dict) -> bool:
    return any(str(a).endswith("ForSequenceClassification") for a in config.get("architectures") or [])


def config_labels(config: dict) -> list[str]:
    """The label names of a config (id2label in index order)."""
    id2label = config.get("id2label") or {}
    n = int(config.get("num_labels") or len(id2label) or 2)
    return [str(id2label.get(str(i), id2label.get(i, f"LABEL_{i}"))) for i in range(n)]


def load_sequence_transformer(name_or_path: str | os.PathLike, *, labels: list[str] | None = None,
                              what: str = "classifier", device: str | None = None, precision: str = "float32",
                              trust_remote_code: bool = False, seed: int | None = None) -> tuple[Transformer, bool]:
    """(Transformer whose model has a sequence-classification head, whether that head is new).

    labels=None: the checkpoint must have a trained head (inference). labels given (training): a
    checkpoint with a trained head must have exactly these labels; any other encoder gets a new,
    randomly initialized head with them (logged), drawn from torch's generator seeded with `seed`.
    """
    from ..device import default_device, parse_precision

    dtype = parse_precision(precision)
    folder = st_folder.backbone_folder(resolve(name_or_path))
    if not folder.is_dir():
        raise ModelLoadError(f"{folder}: the Transformer module folder named in modules.json is missing")
    config = read_config(folder)
    has_head = _has_head(config)
    if labels is None and not has_head:
        archs = ", ".join(config.get("architectures") or ["none listed"])
        raise ModelLoadError(f"model {name_or_path} has no sequence-classification head (config.json "
                             f"architectures: {archs}); train a {what} from it first, or give a folder "
                             f"saved by a trained {what}")
    overrides = None
    if labels is not None:
        one_score = len(labels) == 1 and len(config_labels(config)) == 1  # one score: names do not matter
        if has_head and not one_score and config_labels(config) != list(labels):
            raise InputError(f"model {name_or_path} already has a classification head with labels "
                             f"{config_labels(config)}, but the training data has labels {list(labels)}; start "
                             "from a checkpoint without a classification head (e.g. its encoder) or use data "
                             "with the same labels")
        if not has_head:
            overrides = {"num_labels": len(labels), "id2label": {i: name for i, name in enumerate(labels)},
                         "label2id": {name: i for i, name in enumerate(labels)}}
    if seed is not None:  # a new head starts from the same weights in every process and every run
        torch.manual_seed(seed)
    transformer = Transformer.load(folder, head=HEAD, dtype=dtype, trust_remote_code=trust_remote_code,
                                   config_overrides=overrides)
    prefix = transformer.model.base_model_prefix + "."
    # the head's own weights, and the pooler BERT's classification head reads
    head_missing = [k for k in transformer.missing_keys if not k.startswith(prefix) or ".pooler." in k]
    if head_missing and labels is None:
        raise ModelLoadError(f"model {name_or_path}: the checkpoint lacks the weights of its classification "
                             f"head ({', '.join(head_missing)}); it is not a trained {what}")
    new = bool(head_missing) or not has_head
    if new:
        log.warning("model %s: new, randomly initialized classification head for labels %s (%s); it is "
                    "trained now", name_or_path, list(labels or []), ", ".join(head_missing) or "classifier")
    transformer.to(device or default_device())
    transformer.eval()
    return transformer, new


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities of [n, classes] logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The score in [0, 1] of a one-score head's logits."""
    return 1.0 / (1.0 + np.exp(-x))


class SequenceModel(nn.Module):
    """A Transformer whose `model` is a sequence-classification model; `forward` gives its logits."""
    kind = "sequence"

    def __init__(self, transformer: Transformer, name: str = ""):
        super().__init__()
        self.transformer = transformer
        self.name = name

    @property
    def model(self):
        return self.transformer.model

    @property
    def device(self) -> torch.device:
        return self.transformer.device

    @property
    def regression(self) -> bool:
        """One score (num_labels = 1) rather than class labels."""
        return int(self.model.config.num_labels) == 1

    @classmethod
    def for_training(cls, model, labels: list[str] | None, declared: list[str] | None, *, seed: int,
                     device: str | None = None, trust_remote_code: bool = False):
        """The model to train on data with `labels` (None: scores): `model` itself when it is one of these
        already (with the data's labels), else `model` with a new head (`new`), drawn with `seed`."""
        from ..train.distributed import device_for_rank

        if not isinstance(model, cls):
            return cls.new(model, labels, device=device_for_rank(device), trust_remote_code=trust_remote_code,
                           seed=seed)
        if labels is not None and not model.regression and model.labels != labels:
            raise InputError(f"the {cls.kind}'s label set is {model.labels} but the training data's is {labels}"
                             + ("" if declared else f"; declare it in the {cls.kind}'s order with labels=[...]"),
                             argument="labels")
        return model

    @property
    def labels(self) -> list[str]:
        config = self.model.config
        return [str(config.id2label.get(i, f"LABEL_{i}")) for i in range(int(config.num_labels))]

    @property
    def info(self) -> dict:
        """What twinbert recorded about this head in config.json (kind, base model, loss ...)."""
        return dict(getattr(self.model.config, INFO_KEY, None) or {})

    def set_info(self, **fields) -> None:
        setattr(self.model.config, INFO_KEY, {**self.info, "kind": self.kind, **fields})

    def set_max_seq_length(self, max_seq_length: int) -> None:
        """Truncate inputs to `max_seq_length` tokens (from 3 to the model's position limit)."""
        limit = getattr(self.model.config, "max_position_embeddings", 512) or 512
        if isinstance(max_seq_length, bool) or not isinstance(max_seq_length, int) or not 2 < max_seq_length <= limit:
            raise InputError(f"max_seq_length = {max_seq_length!r}: expected a whole number from 3 to {limit} "
                             "(the model's position limit)", argument="max_seq_length")
        self.transformer.max_seq_length = max_seq_length

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(**self.transformer.model_inputs({
            "input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids})).logits

    def tokenize(self, texts: list[str], pairs: list[str] | None = None) -> Tokenized:
        return self.transformer.tokenize(texts, pairs).warn_truncated(self.transformer.max_seq_length, "inputs")

    def logits(self, texts: list[str], pairs: list[str] | None = None, *, batch_tokens: int | None = None,
               show_progress: bool | None = None) -> np.ndarray:
        """[n, num_labels] float32 logits, computed in length-sorted token-budget batches."""
        return self.logits_of(self.tokenize(texts, pairs), batch_tokens=batch_tokens, show_progress=show_progress)

    def logits_of(self, tokens: Tokenized, *, batch_tokens: int | None = None,
                  show_progress: bool | None = None) -> np.ndarray:
        n = len(tokens.input_ids)
        out = np.zeros((n, int(self.model.config.num_labels)), dtype=np.float32)
        if n == 0:
            return out
        if batch_tokens is not None and (isinstance(batch_tokens, bool) or not isinstance(batch_tokens, int)
                                         or batch_tokens < 1):
            raise InputError(f"batch_tokens = {batch_tokens!r}: expected a positive number of tokens")
        progress = Progress(n, "score", enabled=n >= 2000 if show_progress is None else show_progress)
        was_training = self.training
        self.eval()
        try:
            def run(index, batch):
                out[index] = self(*batch).float().cpu().numpy()
                progress.update(len(index))

            batching.run_batches(tokens.input_ids, tokens.token_type_ids, self.transformer.pad_id, run,
                                 batch_tokens=batch_tokens or batching.DEFAULT_BATCH_TOKENS, device=self.device,
                                 context=torch.inference_mode)
        finally:
            progress.close()
            self.train(was_training)
        return out

    def write(self, folder: Path) -> None:
        """Write the model into the existing empty `folder` (the training loop's save_model)."""
        self.transformer.save(Path(folder))

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write a Hugging Face folder: config.json (id2label, label2id), model.safetensors, tokenizer;
        transformers' AutoModelForSequenceClassification loads it as it is. Safely (see
        twinbert.formats.model_folder): a previous model there is replaced, a folder holding other things
        needs overwrite=True, and files that are not part of a model are kept."""
        return save_model(path, self.write, overwrite=overwrite, what=self.kind)
