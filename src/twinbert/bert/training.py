"""Training a BERT head (classifier, cross-encoder, masked LM) through the one training loop.

Each trainer checks its data and builds its model and Objective (a HeadRun); `train_head` is the
skeleton the three share: record what the run trains (model card, resume check), score the model on
the evaluation data before training, run twinbert.train.loop.fit, write the model card. Also here:
the losses of a sequence head (classifier, cross-encoder) and its Objective.
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import batching
from ..errors import InputError
from ..modules.transformer import Tokenized
from ..train.checkpoint import data_record, run_identity
from ..train.distributed import current
from ..train.loop import TrainResult, fit, merged_metrics
from ..train.objective import Objective
from ..train.settings import TrainConfig

log = logging.getLogger("twinbert")


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Classification: L = -1/n sum_i log softmax(z_i)[y_i] (z_i: the logits of example i, y_i its label)."""
    return F.cross_entropy(logits.float(), targets.long())


def binary_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """One score in [0, 1]: L = -1/n sum_i [y_i log sigmoid(z_i) + (1 - y_i) log(1 - sigmoid(z_i))]."""
    return F.binary_cross_entropy_with_logits(logits.float().view(-1), targets.float())


def sigmoid_mse(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """One score in [0, 1]: L = 1/n sum_i (sigmoid(z_i) - y_i)^2."""
    return F.mse_loss(torch.sigmoid(logits.float().view(-1)), targets.float())


SEQUENCE_LOSSES = {"cross-entropy": cross_entropy, "bce": binary_cross_entropy, "mse": sigmoid_mse}


class SequenceObjective(Objective):
    """Texts (or text pairs, already tokenized) with one target each, and the loss of the model's logits."""

    def __init__(self, model, tokens: Tokenized, targets, loss: str, name: str = "train"):
        super().__init__()
        if loss not in SEQUENCE_LOSSES:
            raise InputError(f"loss {loss!r}: unknown; expected one of {', '.join(SEQUENCE_LOSSES)}")
        self.model = [model]  # a list: the weights belong to the model, not to this objective
        self.tokens = tokens
        self.targets = torch.as_tensor(np.asarray(targets))
        self.loss_fn = SEQUENCE_LOSSES[loss]
        self.loss_name = loss
        self.name = name
        self._lengths = [len(x) for x in tokens.input_ids]

    def __len__(self) -> int:
        return len(self._lengths)

    def lengths(self) -> list[int]:
        return self._lengths

    def loss(self, rows: list[int]) -> torch.Tensor:
        model = self.model[0]
        ids, mask, types = batching.padded(self.tokens.input_ids, self.tokens.token_type_ids, np.asarray(rows),
                                           model.transformer.pad_id, model.device)
        return self.loss_fn(model(ids, mask, types), self.targets[rows].to(model.device))


@dataclass
class HeadRun:
    """One head training as its trainer prepared it (data checked, model built) for train_head."""
    model: nn.Module                        # what fit trains: a SequenceModel or a masked-LM Transformer
    objective: Objective
    save: Callable[[Path], None]            # writes the trained model into an empty folder
    data: list                              # the training data (Datasets, lists of examples or texts)
    settings: dict                          # what shapes the weights besides model and data (loss, labels ...)
    main_metric: str                        # of the first evaluation set
    score: Callable[..., dict]              # the metrics of the model on one of eval_sets: score(*eval_set)
    title: str                              # the model card: what the model is,
    summary: str                            # its base model, head and training,
    usage: list[str]                        # and how to use it (Python lines)
    eval_data: list = field(default_factory=list)  # the evaluation data, as given (names, records)
    eval_sets: list = field(default_factory=list)  # the same, prepared for `score`: a tuple of arguments each


def train_head(start, job: HeadRun, config: TrainConfig, output: Path, *, resume: bool,
               show_progress: bool) -> TrainResult:
    """The skeleton of every head training: `start` is the model the caller gave (recorded with the data
    and job.settings in every checkpoint, so a resume continues only this run)."""
    records = [data_record(d) for d in job.data] + [data_record(d, "eval") for d in job.eval_data]
    run = run_identity(start, records[:len(job.data)], records[len(job.data):], **job.settings)
    names = [f"{getattr(d, 'name', 'eval')}:{getattr(d, 'split', '')}" for d in job.eval_data]
    evaluate = functools.partial(_evaluate, job.score, job.eval_sets, names) if job.eval_sets else None
    main = job.main_metric if evaluate is not None else None
    started = dt.datetime.now(dt.timezone.utc)
    before = evaluate() if evaluate is not None and not resume and current().is_main else None
    if before:
        log.info("before training: %s", ", ".join(f"{k} {v:.4f}" for k, v in before.items()))
    card = functools.partial(_card, job, records, config, names, main, before, started)
    return fit(job.model, [job.objective], config, output, save_model=job.save, evaluate=evaluate, main_metric=main,
               card=card, resume=resume, show_progress=show_progress, run=run)


def _evaluate(score: Callable[..., dict], eval_sets: list, names: list[str]) -> dict:
    """The numbers among the metrics of every evaluation set (see twinbert.train.loop.merged_metrics)."""
    return merged_metrics((name, {m: v for m, v in score(*eval_set).items() if isinstance(v, (int, float))})
                          for name, eval_set in zip(names, eval_sets))


def _card(job: HeadRun, records: list[dict], config: TrainConfig, evals: list[str], main_metric: str | None,
          before: dict | None, started: dt.datetime, result: TrainResult) -> str:
    from ..train.card import head_card

    return head_card(title=job.title, summary=job.summary, data=records, config=config, result=result, evals=evals,
                     main_metric=main_metric, before=before, started=started, usage=job.usage)
