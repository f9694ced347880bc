"""Training pieces shared by the BERT heads (classifier, cross-encoder, masked LM): the losses of a
sequence head, its Objective for twinbert.train.loop.fit, the output-folder checks and the model card.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import torch
import torch.nn.functional as F

from .. import batching
from ..errors import InputError
from ..modules.transformer import Tokenized
from ..train.loop import TrainConfig, TrainResult
from ..train.objective import Objective


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


def dataset_source(data, role: str = "train") -> dict:
    """Name, path, sha256, rows and content digest of a Dataset or list (model card and resume check)."""
    from ..train.checkpoint import data_record

    return data_record(data, role)


def head_card(*, title: str, summary: list[str], data: list[dict], config: TrainConfig, result: TrainResult,
              evals: list[str], main_metric: str | None, before: dict | None, started: dt.datetime,
              usage: list[str]) -> str:
    """README.md of a trained head: what it is, the data (dataset_source records, training and evaluation),
    the settings, the metrics, how to use it."""
    from .. import __version__
    from ..train.card import data_files, settings_and_results

    lines = [f"# {result.output.name}: {title}", "", *summary, "", *data_files(data)]
    lines += settings_and_results(config, result, evals, main_metric, before)
    lines += ["## Usage", "", "```python", *usage, "```", "",
              "Training log: `train_log.jsonl`; learning curve: `learning_curve.png`.", "",
              f"Trained with twinbert {__version__}, started {started.isoformat(timespec='seconds')}.", ""]
    return "\n".join(lines)


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
