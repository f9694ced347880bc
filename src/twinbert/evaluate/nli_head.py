"""NLI accuracy of a sentence encoder with the softmax classifier trained beside it (Sentence-BERT's
NLI objective): label = argmax softmax(W [u; v; |u - v|]) for each (premise, hypothesis) pair."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError
from ._common import check_encode_options, describe, encode_unique, examples_of, rows
from .classification import classification_report

MAIN_METRIC = "softmax_accuracy"


def evaluate_nli_head(encoder, head, data, labels: list[str], **encode_options) -> dict[str, float]:
    """{"softmax_accuracy", "softmax_macro_f1"} of `head` (a SoftmaxLoss) on NLI pairs whose labels are
    names in `labels` (the order the head was trained with)."""
    options = check_encode_options(encode_options)
    pairs = examples_of(data, "NLI data")
    if not pairs:
        raise InputError(f"{describe(data)}: no pairs")
    names = getattr(data, "labels", None) or labels
    gold = [p.label if isinstance(p.label, str) else names[p.label] for p in pairs]
    unknown = sorted(set(gold) - set(labels))
    if unknown:
        raise InputError(f"{describe(data)}: label {unknown[0]!r} was not among the labels the head was "
                         f"trained on ({', '.join(labels)})")
    vectors, index = encode_unique(encoder, [p.sentence1 for p in pairs] + [p.sentence2 for p in pairs], options)
    u = torch.from_numpy(rows(vectors, index, [p.sentence1 for p in pairs]))
    v = torch.from_numpy(rows(vectors, index, [p.sentence2 for p in pairs]))
    head_device = head.classifier.weight.device
    probs = head.predict(u.to(head_device), v.to(head_device)).cpu().numpy()
    predicted = [labels[k] for k in np.argmax(probs, axis=1)]
    report = classification_report(predicted, gold, labels)
    return {"softmax_accuracy": report["accuracy"], "softmax_macro_f1": report["macro_f1"]}
