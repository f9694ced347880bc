"""Triplet accuracy: how often the anchor is closer to its positive than to its negative.

    {s}_accuracy = mean over triplets of [ s(a, p) > s(a, n) + margin ]

for s in cosine, euclidean, manhattan, dot (the distances as negative distances, so higher = closer;
a tie counts as a miss), the definition of sentence-transformers' TripletEvaluator.

From NLI data (no trained classifier head needed) the triplets are (premise, an entailment
hypothesis, a contradiction hypothesis): for each premise, in file order, its i-th entailment
hypothesis is paired with its i-th contradiction hypothesis (XNLI/KorNLI and KLUE-NLI: exactly one
triplet per premise); premises lacking either are left out; neutral hypotheses are not used.
"""
from __future__ import annotations

import numpy as np

from ..data.examples import TripletExample
from ..errors import InputError
from ._common import check_encode_options, check_similarities, describe, encode_unique, examples_of, pair_scores, rows

SIMILARITIES = ("cosine", "euclidean", "manhattan", "dot")
MAIN_METRIC = "cosine_accuracy"


def nli_triplets(data) -> list[TripletExample]:
    """(premise, entailment, contradiction) triplets from NLI pairs (see the module docstring)."""
    by_premise: dict[str, dict[str, list[str]]] = {}
    for ex in examples_of(data, "NLI data"):
        label = getattr(ex, "label", None)
        if isinstance(label, str) and label in ("entailment", "contradiction"):
            by_premise.setdefault(ex.sentence1, {"entailment": [], "contradiction": []})[label].append(ex.sentence2)
    triplets = [TripletExample(premise, pos, neg)
                for premise, hyps in by_premise.items()
                for pos, neg in zip(hyps["entailment"], hyps["contradiction"])]
    if not triplets:
        raise InputError(f"{describe(data)}: no premise has both an entailment and a contradiction hypothesis "
                         "(labels 'entailment' / 'contradiction'), so no triplet can be built")
    return triplets


def as_triplets(data) -> list[TripletExample]:
    """TripletExamples as they are; NLI pairs (PairExample with labels) turned into triplets."""
    examples = examples_of(data, "triplet data")
    if not examples:
        raise InputError(f"{describe(data)}: no triplets")
    if all(isinstance(ex, TripletExample) for ex in examples):
        return examples
    if all(hasattr(ex, "sentence1") and hasattr(ex, "label") for ex in examples):
        return nli_triplets(data)
    raise InputError(f"{describe(data)}: expected TripletExample(anchor, positive, negative) examples or NLI "
                     "pairs labelled entailment / neutral / contradiction")


def triplet_accuracy(positive_scores, negative_scores, margin: float = 0.0) -> float:
    pos, neg = np.asarray(positive_scores, dtype=np.float64), np.asarray(negative_scores, dtype=np.float64)
    if pos.shape != neg.shape or pos.size == 0:
        raise InputError(f"triplet_accuracy needs two equally long non-empty score lists, got {pos.shape} and {neg.shape}")
    return float((pos > neg + margin).mean())


def evaluate_triplets(encoder, data, *, similarities=SIMILARITIES, margin: float = 0.0,
                      **encode_options) -> dict[str, float]:
    """Triplet accuracy of `encoder` on `data`: a Dataset or list of TripletExample, or NLI pairs.
    Returns {f"{s}_accuracy"} for each similarity s; unique sentences are encoded once."""
    names = check_similarities(similarities)
    options = check_encode_options(encode_options)
    triplets = as_triplets(data)
    anchors = [t.anchor for t in triplets]
    positives = [t.positive for t in triplets]
    negatives = [t.negative for t in triplets]
    vectors, index = encode_unique(encoder, anchors + positives + negatives, options)
    a, p, n = rows(vectors, index, anchors), rows(vectors, index, positives), rows(vectors, index, negatives)
    return {f"{name}_accuracy": triplet_accuracy(pair_scores(a, p, name), pair_scores(a, n, name), margin)
            for name in names}


__all__ = ["evaluate_triplets", "nli_triplets", "as_triplets", "triplet_accuracy", "SIMILARITIES", "MAIN_METRIC"]
