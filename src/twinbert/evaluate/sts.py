"""Semantic textual similarity: how well the similarity of two sentence vectors follows the gold
score of the pair.

For each similarity s in (cosine, euclidean, manhattan, dot), with p_i = s(u_i, v_i) (the distances
as negative distances, so higher = more similar) and g_i the gold score:

    pearson_s  = corr(p, g)                   Pearson's r
    spearman_s = corr(rank(p), rank(g))       Spearman's rho (ties get their average rank)

the definitions of sentence-transformers' EmbeddingSimilarityEvaluator and of scipy. The SBERT paper
reports spearman_cosine x 100.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from ._common import check_encode_options, check_similarities, describe, encode_unique, examples_of, pair_scores, rows

SIMILARITIES = ("cosine", "euclidean", "manhattan", "dot")
MAIN_METRIC = "spearman_cosine"


def pearson(x, y) -> float:
    """Pearson's r of two equally long sequences (float64); NaN when either is constant."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise InputError(f"pearson needs two 1-D sequences of the same length, got {x.shape} and {y.shape}")
    if len(x) < 2:
        return float("nan")
    dx, dy = x - x.mean(), y - y.mean()
    denominator = np.sqrt((dx * dx).sum() * (dy * dy).sum())
    if denominator == 0:
        return float("nan")
    return float(np.clip((dx * dy).sum() / denominator, -1.0, 1.0))


def rank(values) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (scipy.stats.rankdata's 'average')."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    # start of each run of equal values in sorted order
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    average = (starts + ends + 1) / 2.0  # mean of the 1-based positions starts+1 .. ends
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def spearman(x, y) -> float:
    """Spearman's rho: Pearson's r of the average ranks."""
    return pearson(rank(x), rank(y))


def check_sts(data) -> tuple[list[str], list[str], np.ndarray]:
    """(sentences1, sentences2, gold scores) of an STS dataset, or InputError before any encoding."""
    examples = examples_of(data, "STS data")
    where = describe(data)
    if len(examples) < 2:
        raise InputError(f"{where}: {len(examples)} pair(s); STS correlation needs at least 2 scored pairs")
    for k, ex in enumerate(examples):
        if not hasattr(ex, "sentence1") or getattr(ex, "score", None) is None:
            raise InputError(f"{where}: example {k} has no similarity score; STS needs pairs with a score "
                             "(for a generic file: --columns sentence1,sentence2,score)")
    gold = np.array([float(ex.score) for ex in examples], dtype=np.float64)
    if not np.isfinite(gold).all():
        k = int(np.flatnonzero(~np.isfinite(gold))[0])
        raise InputError(f"{where}: example {k} has score {gold[k]}; expected a finite number")
    if np.all(gold == gold[0]):
        raise InputError(f"{where}: every gold score is {gold[0]:g}; a correlation needs scores that vary")
    return [ex.sentence1 for ex in examples], [ex.sentence2 for ex in examples], gold


def sts_metrics(predicted: dict[str, Sequence[float]], gold) -> dict[str, float]:
    """{f"pearson_{s}", f"spearman_{s}"} for each similarity name s -> predicted scores."""
    metrics = {}
    for name, scores in predicted.items():
        metrics[f"spearman_{name}"] = spearman(scores, gold)
        metrics[f"pearson_{name}"] = pearson(scores, gold)
    return metrics


def evaluate_sts(encoder, data, *, similarities=SIMILARITIES, plot=None, **encode_options) -> dict[str, float]:
    """STS evaluation of `encoder` on `data` (a Dataset or a list of PairExample with scores).

    Returns {"spearman_cosine", "pearson_cosine", "spearman_euclidean", ..., "pearson_dot"} as
    fractions (NaN when the predictions are constant). `plot`: a PNG path for a scatter plot of the
    cosine similarity against the gold score. `encode_options`: pooling, layers, normalize,
    batch_tokens, precision, passed to encoder.encode (each unique sentence is encoded once).
    """
    names = check_similarities(similarities)
    options = check_encode_options(encode_options)
    first, second, gold = check_sts(data)
    vectors, index = encode_unique(encoder, first + second, options)
    a, b = rows(vectors, index, first), rows(vectors, index, second)
    predicted = {name: pair_scores(a, b, name) for name in names}
    metrics = sts_metrics(predicted, gold)
    if plot is not None:
        cosine = predicted["cosine"] if "cosine" in predicted else pair_scores(a, b, "cosine")
        scatter_plot(cosine, gold, plot, title=f"{describe(data)}", model=getattr(encoder, "name", ""))
    return metrics


def scatter_plot(cosine, gold, path, *, title: str = "", model: str = ""):
    """Predicted cosine similarity against the gold score, with Spearman and Pearson in the corner."""
    from ..plots import scatter

    note = f"Spearman {spearman(cosine, gold):.4f}\nPearson {pearson(cosine, gold):.4f}\nn = {len(gold)}"
    head = f"{model}\n{title}" if model else title
    return scatter(gold, cosine, path, title=head, xlabel="gold score", ylabel="cosine similarity", note=note)


__all__ = ["evaluate_sts", "sts_metrics", "pearson", "spearman", "rank", "check_sts", "scatter_plot",
           "SIMILARITIES", "MAIN_METRIC"]
