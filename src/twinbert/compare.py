"""compare: several models and/or poolings on the same sentences, side by side.

The first sentence is the anchor; every other sentence is scored against it with each
(model, pooling) pair, the question users ask when choosing between [CLS], pooler_output, mean and max.
"""
from __future__ import annotations

from .checks import choice, text_list
from .errors import InputError
from .modules.pooling import MODES, parse_modes
from .similarity import METRICS, similarity

DEFAULT_POOLINGS = ("cls", "pooler", "mean", "max")


def check_poolings(poolings) -> list[str]:
    """A list of one or more known pooling names (a str is one name); checked before any model runs."""
    poolings = [poolings] if isinstance(poolings, str) else text_list(poolings, "poolings")
    if not poolings:
        raise InputError(f"poolings is empty: expected one or more of {', '.join(MODES)}", argument="poolings")
    for pooling in poolings:
        parse_modes(pooling)
    return poolings


def compare(encoders: dict, sentences: list[str], poolings=DEFAULT_POOLINGS, *, layers=None,
            metric: str = "cosine", prompt_name: str | None = None, prompt: str | None = None) -> dict:
    """encoders: {label: SentenceEncoder}; prompt_name / prompt as for encode (default: each model's
    default prompt). Returns {"anchor", "sentences", "metric", "columns": [
    {"model", "pooling", "scores": [one per non-anchor sentence]}], "skipped": [...]}."""
    sentences = text_list(sentences, "sentences")
    if len(sentences) < 2:
        raise InputError("compare needs an anchor sentence and at least one sentence to score against it")
    poolings = check_poolings(poolings)
    choice(metric, "metric", METRICS)
    columns, skipped = [], []
    for label, encoder in encoders.items():
        for pooling in poolings:
            if pooling == "pooler" and not encoder.transformer.has_pooler:
                skipped.append({"model": label, "pooling": pooling, "reason": "the model has no trained pooler"})
                continue
            vectors = encoder.encode(list(sentences), pooling=pooling, layers=layers, prompt_name=prompt_name,
                                     prompt=prompt)
            scores = similarity(vectors[:1], vectors[1:], metric)[0]
            columns.append({"model": label, "pooling": pooling, "scores": [float(s) for s in scores]})
    return {"anchor": sentences[0], "sentences": list(sentences[1:]), "metric": metric,
            "layers": layers, "columns": columns, "skipped": skipped}
