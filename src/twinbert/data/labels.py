"""The one label rule of every labelled dataset (classifier, cross-encoder, softmax/contrastive training).

A label set is either declared (the task's own label names, a reader's ``labels=``, `labels=[...]` on a
training function, `--labels a,b,c` on the command line) or inferred from the labels found. Declared:
a label must be one of the set, nothing else is checked (a class may be called "NA" if you say so).
Inferred: only clean labels count, because pandas and spreadsheets write a missing value as "nan", "",
"NULL" ...; inferring those would silently add a class of unlabelled rows. A label with spaces around
it is refused too (" positive" would be a second class beside "positive").
"""
from __future__ import annotations

from collections.abc import Sequence

from ..errors import InputError
from ._io import RowError

MISSING = frozenset({"", "nan", "-nan", "none", "null", "na", "n/a", "<na>", "nat", "undefined"})


def check_label(text: str, field: str, declared: Sequence[str] | None) -> str:
    """`text` if it is a valid label, else a RowError naming `field` and what would be accepted."""
    if declared is not None:
        if text not in declared:
            raise RowError(field, f"{text!r} is not a known label", "one of " + ", ".join(declared))
        return text
    if text.strip().lower() in MISSING:
        if not text.strip():
            raise RowError(field, "is empty", "a class label")
        raise RowError(field, f"is {text!r}, a missing-value marker",
                       f"a class label (to use {text!r} as a class name, declare the label set)")
    if text != text.strip():
        raise RowError(field, f"{text!r} has spaces around it", f"the label without them ({text.strip()!r})")
    return text


def example_label(text: str, declared: Sequence[str] | None, where: str) -> str:
    """check_label for one example outside a file, as an InputError naming it: `where` is e.g.
    "training data: example 2 ('a dog')"."""
    try:
        return check_label(text, "label", declared)
    except RowError as e:
        raise InputError(f"{where}, field 'label': {e.problem}; expected {e.expected}") from None


def declared_labels(labels, name: str = "labels") -> list[str] | None:
    """None, or the declared label set: a list of distinct non-empty strings, or the same joined by
    commas ("entailment,neutral,contradiction"); at least two."""
    if labels is None:
        return None
    items = [x.strip() for x in labels.split(",")] if isinstance(labels, str) else labels
    if isinstance(items, (bytes, dict)) or not isinstance(items, Sequence) or \
            not all(isinstance(x, str) for x in items):
        raise InputError(f"{name} must be a list of label names (str) or names joined by commas, got {labels!r}",
                         argument=name)
    items = list(items)
    bad = [x for x in items if not x.strip() or x != x.strip()]
    twice = sorted({x for x in items if items.count(x) > 1})
    if bad or twice or len(items) < 2:
        problem = (f"{bad[0]!r} is empty or has spaces around it" if bad else
                   f"{twice[0]!r} is given twice" if twice else f"{len(items)} given")
        raise InputError(f"{name} {','.join(items)!r}: {problem}; expected two or more distinct label names, "
                         "e.g. negative,positive", argument=name)
    return items
