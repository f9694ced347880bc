"""Metrics of predicted class labels against gold labels, for the classifier heads (NLI softmax
head, sentence classification, cross-encoders): pure functions, no model.

  accuracy     correct / all
  precision_c  predicted c and gold c / predicted c           (0 when c is never predicted)
  recall_c     predicted c and gold c / gold c                (0 when c never occurs)
  f1_c         2 precision_c recall_c / (precision_c + recall_c)   (0 when both are 0)
  macro_f1     mean of f1_c over the labels (scikit-learn's f1_score(average="macro"); by default the
               labels are those occurring in gold or predictions)

Labels may be strings or integer indexes; `labels` (e.g. Dataset.labels) names integer indexes and
fixes the order. Predictions may also be a [n, classes] array of logits or probabilities (argmax).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..data import NLI_LABELS
from ..errors import InputError


def _as_labels(values, labels: Sequence[str] | None, what: str) -> list:
    """Labels as a list; logits / probabilities [n, classes] become argmax indexes; integer indexes
    become names when `labels` is given."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    if isinstance(values, (list, tuple)) and values and isinstance(values[0], (list, tuple, np.ndarray)):
        values = np.asarray(values, dtype=np.float64)
    if isinstance(values, np.ndarray):
        if values.ndim == 2:
            if labels is not None and values.shape[1] != len(labels):
                raise InputError(f"{what}: {values.shape[1]} scores per example but {len(labels)} labels "
                                 f"{list(labels)}")
            values = values.argmax(axis=1)
        elif values.ndim != 1:
            raise InputError(f"{what}: expected labels or a [n, classes] array of scores, got shape {values.shape}")
        values = values.tolist()
    out = []
    for k, v in enumerate(values):
        if labels is not None and isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            if not 0 <= int(v) < len(labels):
                raise InputError(f"{what}[{k}] = {v}: not an index into the labels {list(labels)}")
            v = labels[int(v)]
        elif labels is not None and v not in labels:
            raise InputError(f"{what}[{k}] = {v!r}: not one of the labels {list(labels)} or an index into them")
        out.append(v)
    return out


def _pair(predicted, gold, labels):
    p = _as_labels(predicted, labels, "predicted")
    g = _as_labels(gold, labels, "gold")
    if len(p) != len(g):
        raise InputError(f"predicted has {len(p)} labels but gold has {len(g)}; expected one prediction per example")
    if not g:
        raise InputError("no examples: classification metrics need at least one gold label")
    return p, g


def accuracy(predicted, gold, labels: Sequence[str] | None = None) -> float:
    p, g = _pair(predicted, gold, labels)
    return sum(a == b for a, b in zip(p, g)) / len(g)


def classification_report(predicted, gold, labels: Sequence[str] | None = None) -> dict:
    """{"accuracy", "macro_f1", "labels", "per_class": {label: {precision, recall, f1, support}},
    "confusion": rows = gold label, columns = predicted label, in the order of "labels"}."""
    p, g = _pair(predicted, gold, labels)
    names = list(labels) if labels is not None else sorted(set(g) | set(p), key=lambda x: (str(type(x)), x))
    position = {name: i for i, name in enumerate(names)}
    matrix = np.zeros((len(names), len(names)), dtype=np.int64)
    for a, b in zip(g, p):
        matrix[position[a], position[b]] += 1
    per_class = {}
    for i, name in enumerate(names):
        tp, predicted_c, gold_c = matrix[i, i], matrix[:, i].sum(), matrix[i, :].sum()
        precision = tp / predicted_c if predicted_c else 0.0
        recall = tp / gold_c if gold_c else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[str(name)] = {"precision": float(precision), "recall": float(recall), "f1": float(f1),
                                "support": int(gold_c)}
    return {
        "accuracy": float(np.trace(matrix) / len(g)),
        "macro_f1": float(np.mean([c["f1"] for c in per_class.values()])),
        "labels": [str(n) for n in names],
        "per_class": per_class,
        "confusion": matrix.tolist(),
    }


def macro_f1(predicted, gold, labels: Sequence[str] | None = None) -> float:
    return classification_report(predicted, gold, labels)["macro_f1"]


def nli_metrics(predicted, gold, labels: Sequence[str] = tuple(NLI_LABELS)) -> dict:
    """NLI accuracy (the SBERT paper's figure), macro-F1, per-class scores and the confusion matrix.
    Label indexes follow `labels` (default: entailment, neutral, contradiction, the order of
    twinbert.data's NLI datasets); predictions may be logits [n, 3]."""
    return classification_report(predicted, gold, list(labels))


def nli_accuracy(predicted, gold, labels: Sequence[str] = tuple(NLI_LABELS)) -> float:
    return accuracy(predicted, gold, list(labels))


__all__ = ["accuracy", "macro_f1", "classification_report", "nli_metrics", "nli_accuracy"]
