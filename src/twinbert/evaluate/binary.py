"""Binary pair classification (paraphrase or not, MRPC; entailment or not, RTE): how well one
threshold on the similarity of two sentence vectors separates the positive pairs from the negative.

For each similarity (cosine and dot: higher = positive; euclidean and manhattan: the DISTANCE, lower =
positive, so thresholds read as distances), with the definitions of sentence-transformers'
BinaryClassificationEvaluator:

  accuracy, accuracy_threshold   the threshold with the best accuracy. Pairs are sorted from most to
                                 least similar; cutting after each run of equal scores predicts the
                                 pairs above the cut positive. The threshold is the midpoint between
                                 the last score kept and the next one (the last score itself at the
                                 end); "all negative" is the starting point, replaced only by a
                                 strictly better cut, the earliest one on ties.
  f1, f1_threshold, precision, recall
                                 the same search for the best F1 = 2PR / (P + R) (0 without any
                                 true positive); precision and recall at that cut.
  ap                             average precision: sum over cuts of (R_k - R_{k-1}) * P_k, no
                                 interpolation (scikit-learn's average_precision_score).
  mcc                            Matthews correlation of the predictions at the F1 threshold.

A pair is predicted positive when score >= threshold (similarities) or distance <= threshold
(distances). With `dev` data, both thresholds are chosen on dev and applied to the evaluated data
(accuracy, f1, precision, recall and mcc are then test figures at dev thresholds; ap needs no
threshold); without it, they are chosen on the evaluated data itself, as sentence-transformers does.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from ._common import check_encode_options, check_similarities, describe, encode_unique, examples_of, pair_scores, rows

SIMILARITIES = ("cosine", "dot", "euclidean", "manhattan")
GREATER_IS_BETTER = {"cosine": True, "dot": True, "euclidean": False, "manhattan": False}
MAIN_METRIC = "cosine_ap"


def _cuts(scores, labels, greater_is_better: bool):
    """Scores sorted best first and, at the end of each run of equal scores, (position, true
    positives so far, predicted positives so far)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    if scores.shape != labels.shape or scores.ndim != 1:
        raise InputError(f"scores and labels must be 1-D and equally long, got {scores.shape} and {labels.shape}")
    order = np.argsort(-scores if greater_is_better else scores, kind="stable")
    s, y = scores[order], labels[order]
    ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True]) if len(s) else np.zeros(0, dtype=np.int64)
    true_pos = np.cumsum(y)[ends] if len(s) else np.zeros(0)
    return s, ends, true_pos.astype(np.float64), (ends + 1).astype(np.float64)


def _threshold(s: np.ndarray, end: int) -> float:
    """Midpoint between the score at `end` and the next one; the score itself at the end or when the
    midpoint rounds onto the next score."""
    if end == len(s) - 1:
        return float(s[end])
    mid = (s[end] + s[end + 1]) / 2
    return float(s[end]) if mid == s[end + 1] else float(mid)


def best_accuracy_threshold(scores, labels, greater_is_better: bool = True) -> tuple[float, float]:
    """(best accuracy, its threshold). Predicting every pair negative is the baseline: its threshold
    is just beyond the best score."""
    s, ends, tp, predicted = _cuts(scores, labels, greater_is_better)
    n = len(s)
    if n == 0:
        return 0.0, -1.0
    negatives = n - float(np.asarray(labels).astype(bool).sum())
    baseline = negatives / n
    correct = tp + (negatives - (predicted - tp))  # true positives + true negatives at each cut
    accuracy = correct / n
    k = int(np.argmax(accuracy))
    if accuracy[k] > baseline:
        return float(accuracy[k]), _threshold(s, int(ends[k]))
    beyond = np.nextafter(np.float32(s[0]), np.float32(np.inf if greater_is_better else -np.inf))
    return float(baseline), float(beyond)


def best_f1_threshold(scores, labels, greater_is_better: bool = True) -> tuple[float, float, float, float]:
    """(best F1, precision, recall, threshold); (0, 0, 0, 0) when there is no positive pair."""
    s, ends, tp, predicted = _cuts(scores, labels, greater_is_better)
    positives = float(np.asarray(labels).astype(bool).sum())
    if len(s) == 0 or positives == 0:
        return 0.0, 0.0, 0.0, 0.0
    precision = tp / predicted
    recall = tp / positives
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(tp > 0, 2 * precision * recall / (precision + recall), 0.0)
    k = int(np.argmax(f1))
    if f1[k] <= 0:
        return 0.0, 0.0, 0.0, 0.0
    return float(f1[k]), float(precision[k]), float(recall[k]), _threshold(s, int(ends[k]))


def average_precision(scores, labels, greater_is_better: bool = True) -> float:
    """Sum over the cuts (runs of equal scores count as one) of (R_k - R_{k-1}) * P_k; NaN without
    any positive pair."""
    _, _, tp, predicted = _cuts(scores, labels, greater_is_better)
    positives = float(np.asarray(labels).astype(bool).sum())
    if positives == 0:
        return float("nan")
    recall = tp / positives
    gain = np.diff(np.r_[0.0, recall])
    return float((gain * tp / predicted).sum())


def predict(scores, threshold: float, greater_is_better: bool = True) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    return scores >= threshold if greater_is_better else scores <= threshold


def confusion(predicted, labels) -> tuple[int, int, int, int]:
    """(true positives, false positives, true negatives, false negatives)."""
    p, y = np.asarray(predicted).astype(bool), np.asarray(labels).astype(bool)
    return int((p & y).sum()), int((p & ~y).sum()), int((~p & ~y).sum()), int((~p & y).sum())


def matthews(predicted, labels) -> float:
    """Matthews correlation coefficient; 0 when a row or column of the confusion matrix is empty."""
    tp, fp, tn, fn = confusion(predicted, labels)
    denominator = math.sqrt(float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return 0.0 if denominator == 0 else (tp * tn - fp * fn) / denominator


def threshold_metrics(scores, labels, greater_is_better: bool = True, *, dev_scores=None,
                      dev_labels=None) -> dict[str, float]:
    """accuracy, accuracy_threshold, f1, f1_threshold, precision, recall, ap, mcc for one similarity.
    Thresholds come from (dev_scores, dev_labels) when given, else from (scores, labels)."""
    labels = np.asarray(labels).astype(bool)
    if dev_scores is None:
        accuracy, acc_threshold = best_accuracy_threshold(scores, labels, greater_is_better)
        f1, precision, recall, f1_threshold = best_f1_threshold(scores, labels, greater_is_better)
    else:
        _, acc_threshold = best_accuracy_threshold(dev_scores, dev_labels, greater_is_better)
        _, _, _, f1_threshold = best_f1_threshold(dev_scores, dev_labels, greater_is_better)
        accuracy = float((predict(scores, acc_threshold, greater_is_better) == labels).mean())
        tp, fp, _, fn = confusion(predict(scores, f1_threshold, greater_is_better), labels)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {
        "accuracy": accuracy, "accuracy_threshold": acc_threshold,
        "f1": f1, "f1_threshold": f1_threshold, "precision": precision, "recall": recall,
        "ap": average_precision(scores, labels, greater_is_better),
        "mcc": matthews(predict(scores, f1_threshold, greater_is_better), labels),
    }


def binary_labels(data) -> tuple[list[str], list[str], np.ndarray]:
    """(sentences1, sentences2, 0/1 labels) of a pair-classification dataset, or InputError.

    A label is an int 0/1, the string "0"/"1", or a string of a two-entry Dataset.labels (the
    second entry is the positive class); both classes must occur."""
    examples = examples_of(data, "pair-classification data")
    where = describe(data)
    vocabulary = getattr(data, "labels", None)
    if not examples:
        raise InputError(f"{where}: no pairs; binary classification needs labelled pairs")
    labels = np.zeros(len(examples), dtype=bool)
    for k, ex in enumerate(examples):
        label = getattr(ex, "label", None)
        if not hasattr(ex, "sentence1") or label is None:
            raise InputError(f"{where}: example {k} has no label; binary classification needs pairs labelled "
                             "0/1 (for a generic file: --columns sentence1,sentence2,label)")
        if isinstance(label, str) and vocabulary and len(vocabulary) == 2 and label in vocabulary:
            value = vocabulary.index(label)
        elif isinstance(label, str) and label.strip() in ("0", "1"):
            value = int(label.strip())
        elif isinstance(label, (int, np.integer)) and not isinstance(label, bool) and label in (0, 1):
            value = int(label)
        else:
            known = f" or one of {vocabulary}" if vocabulary and len(vocabulary) == 2 else ""
            raise InputError(f"{where}: example {k} has label {label!r}; binary classification expects 0 "
                             f"(negative) or 1 (positive){known}")
        labels[k] = bool(value)
    if labels.all() or not labels.any():
        raise InputError(f"{where}: every pair has label {int(labels[0])}; thresholds and average precision "
                         "need both positive (1) and negative (0) pairs")
    return [ex.sentence1 for ex in examples], [ex.sentence2 for ex in examples], labels


def evaluate_binary(encoder, data, *, dev=None, similarities=SIMILARITIES, **encode_options) -> dict[str, float]:
    """Binary pair classification of `data` (a Dataset or a list of PairExample labelled 0/1).

    Returns {f"{s}_{m}"} for each similarity s in `similarities` and m in accuracy,
    accuracy_threshold, f1, f1_threshold, precision, recall, ap, mcc (sentence-transformers' keys).
    `dev`: data to choose the thresholds on (see the module docstring). The unique sentences of data
    and dev are encoded once, together.
    """
    names = check_similarities(similarities)
    options = check_encode_options(encode_options)
    first, second, labels = binary_labels(data)
    dev_first, dev_second, dev_labels = binary_labels(dev) if dev is not None else ([], [], None)
    vectors, index = encode_unique(encoder, first + second + dev_first + dev_second, options)
    a, b = rows(vectors, index, first), rows(vectors, index, second)
    if dev is not None:
        dev_a, dev_b = rows(vectors, index, dev_first), rows(vectors, index, dev_second)
    metrics: dict[str, float] = {}
    for name in names:
        sign = 1.0 if GREATER_IS_BETTER[name] else -1.0  # pair_scores gives negative distances
        scores = sign * pair_scores(a, b, name)
        dev_scores = sign * pair_scores(dev_a, dev_b, name) if dev is not None else None
        values = threshold_metrics(scores, labels, GREATER_IS_BETTER[name], dev_scores=dev_scores,
                                   dev_labels=dev_labels)
        metrics.update({f"{name}_{key}": value for key, value in values.items()})
    return metrics


__all__ = ["evaluate_binary", "threshold_metrics", "best_accuracy_threshold", "best_f1_threshold",
           "average_precision", "matthews", "predict", "binary_labels", "SIMILARITIES", "MAIN_METRIC"]
