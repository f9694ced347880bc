"""Training data for a sentence loss: a Dataset (or a list of examples) checked against what the loss
needs and turned into text columns plus labels, before any model is loaded.

  score   (cosine, cosent)       pairs with scores -> (s1, s2), score scaled to [0, 1] by the score range
  class   (softmax)              pairs with class labels -> (s1, s2), label index
  binary  (contrastive)          pairs labelled 0 / 1 -> (s1, s2), label
  None    (triplet)              triplets, or NLI pairs -> (premise, entailment, contradiction)
  None    (mnrl)                 triplets or NLI pairs as above (hard negatives), or pairs -> (anchor, positive)
  vector  (mse, distillation)    texts -> (text,); pairs -> (source, translation); labels = teacher(source)
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..data.examples import PairExample, TextExample, TripletExample
from ..errors import InputError
from ..evaluate.triplet import nli_triplets


@dataclass
class TrainingData:
    name: str                       # for messages and the model card, e.g. "stsb/train"
    columns: list[list[str]]        # text columns, each as long as the data
    labels: np.ndarray | None       # one label (or target vector) per row
    source: dict                    # path, rows, sha256 ... for the model card
    num_labels: int | None = None
    label_names: list[str] | None = None

    def __len__(self) -> int:
        return len(self.columns[0])


def describe(dataset) -> str:
    name, split = getattr(dataset, "name", None), getattr(dataset, "split", None)
    if name is None:
        return "the training examples"
    return f"{name}/{split}" if split else str(name)


def _source(dataset) -> dict:
    from .checkpoint import data_record

    return {**data_record(dataset), "name": describe(dataset)}


def prepare(dataset, loss, *, score_range: tuple[float, float] | None = None) -> TrainingData:
    """Check `dataset` against `loss` (a twinbert.losses.Loss) and build its TrainingData.
    Distillation targets (label kind "vector") are filled in later by the caller, which has the teacher."""
    examples = list(getattr(dataset, "examples", dataset))
    what, kind = describe(dataset), loss.label_kind
    loss_name = type(getattr(loss, "loss", loss)).__name__
    if not examples:
        raise InputError(f"{what}: no rows to train on")
    first = examples[0]
    if kind in ("score", "class", "binary"):
        pairs = _all(examples, PairExample, what, f"{loss_name} needs sentence pairs (sentence1, sentence2)")
        columns = [[e.sentence1 for e in pairs], [e.sentence2 for e in pairs]]
        if kind == "score":
            labels = _scores(pairs, score_range or getattr(dataset, "score_range", None), what)
            return TrainingData(what, columns, labels, _source(dataset))
        names = getattr(dataset, "labels", None)
        labels = _classes(pairs, names, what, binary=kind == "binary")
        count = 2 if kind == "binary" else len(names or []) or int(labels.max()) + 1
        return TrainingData(what, columns, labels, _source(dataset), count, list(names) if names else None)
    if kind == "vector":
        if all(isinstance(e, TextExample) for e in examples):
            return TrainingData(what, [[e.text for e in examples]], None, _source(dataset))
        pairs = _all(examples, PairExample, what, "distillation needs texts, or (source, translation) pairs")
        return TrainingData(what, [[e.sentence1 for e in pairs], [e.sentence2 for e in pairs]], None, _source(dataset))
    # no labels: triplet / multiple-negatives
    if isinstance(first, TripletExample):
        rows = _all(examples, TripletExample, what, "")
    elif isinstance(first, PairExample) and getattr(first, "label", None) is not None and \
            set(getattr(dataset, "labels", None) or []) >= {"entailment", "contradiction"}:
        rows = nli_triplets(examples)
    elif isinstance(first, PairExample) and 2 in loss.columns and first.score is None and first.label is None:
        pairs = _all(examples, PairExample, what, "")
        return TrainingData(what, [[e.sentence1 for e in pairs], [e.sentence2 for e in pairs]], None, _source(dataset))
    else:
        need = "(anchor, positive, negative) triplets or NLI pairs" + \
               (" or (anchor, positive) pairs" if 2 in loss.columns else "")
        raise InputError(f"{what}: {loss_name} needs {need}; this data has {_shape(first)} "
                         "(for scored pairs use loss cosine or cosent; for labelled pairs softmax or contrastive)",
                         argument="loss")
    columns = [[t.anchor for t in rows], [t.positive for t in rows], [t.negative for t in rows]]
    return TrainingData(what, columns, None, {**_source(dataset), "triplets": len(rows)})


def _shape(example) -> str:
    if isinstance(example, PairExample):
        extra = "scores" if example.score is not None else "labels" if example.label is not None else "no labels"
        return f"sentence pairs with {extra}"
    return {TripletExample: "triplets", TextExample: "single texts"}.get(type(example), type(example).__name__)


def _all(examples, cls, what: str, need: str) -> list:
    for i, e in enumerate(examples):
        if not isinstance(e, cls):
            raise InputError(f"{what}: row {i + 1} is {_shape(e)}; {need or 'expected ' + cls.__name__}")
    return examples


def _scores(pairs: list[PairExample], score_range, what: str) -> np.ndarray:
    low, high = score_range or (0.0, 5.0)
    scores = np.empty(len(pairs), dtype=np.float32)
    for i, e in enumerate(pairs):
        if e.score is None:
            raise InputError(f"{what}: row {i + 1} has no score; this loss trains on similarity scores")
        if not math.isfinite(e.score):
            raise InputError(f"{what}: row {i + 1} has score {e.score}; scores must be finite numbers")
        if not low <= e.score <= high:
            raise InputError(f"{what}: row {i + 1} has score {e.score}, outside the score range {low:g}..{high:g} "
                             "(set score_range to the data's range: LOW,HIGH)", argument="score_range")
        scores[i] = (e.score - low) / (high - low)
    return scores


def _classes(pairs: list[PairExample], names, what: str, binary: bool) -> np.ndarray:
    labels = np.empty(len(pairs), dtype=np.int64)
    index = {str(n): k for k, n in enumerate(names or [])}
    for i, e in enumerate(pairs):
        value = e.label
        if value is None:
            raise InputError(f"{what}: row {i + 1} has no label; this loss trains on class labels")
        if isinstance(value, str):
            if value not in index:
                accepted = f"one of {', '.join(index)}" if index else "a class index (this data names no labels)"
                raise InputError(f"{what}: row {i + 1} has label {value!r}; expected {accepted}")
            value = index[value]
        count = 2 if binary else (len(index) or None)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0 or \
                (count is not None and value >= count):
            accepted = "0 or 1" if binary else (f"0..{count - 1}" if count else "a non-negative class index")
            raise InputError(f"{what}: row {i + 1} has label {value!r}, out of range; expected {accepted}")
        labels[i] = int(value)
    return labels


def with_targets(data: TrainingData, targets: np.ndarray) -> TrainingData:
    return dataclasses.replace(data, labels=np.asarray(targets, dtype=np.float32))
