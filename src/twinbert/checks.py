"""Argument checks shared by the library: one rule per kind of argument, one message shape.

Each check raises InputError naming the Python argument (and carrying it in `.argument`, so the CLI
can name its flag instead) together with what would be accepted.
"""
from __future__ import annotations

import numbers
from collections.abc import Iterable

from .errors import InputError


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def positive_int(value, name: str, *, allow_none: bool = False) -> int | None:
    """An int >= 1 (bools and floats such as 1.5 are refused; 2.0 is accepted as 2)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or int(value) != value:
        raise InputError(f"{name} must be a positive integer, got {_shown(value)}", argument=name)
    if value < 1:
        raise InputError(f"{name} must be a positive integer (1 or more), got {int(value)}", argument=name)
    return int(value)


def optional_bool(value, name: str) -> bool | None:
    """None, True or False (numpy bools too); strings such as "no" are refused, not taken as True."""
    if value is None:
        return None
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    raise InputError(f"{name} must be True, False or None, got {_shown(value)}", argument=name)


def choice(value, name: str, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise InputError(f"unknown {name} {_shown(value)}: expected one of {', '.join(map(repr, allowed))}",
                         argument=name)
    return value


def text_list(texts, name: str = "texts") -> list[str]:
    """Any iterable of str (a list, a tuple, a generator, a pandas Series) as a list; a single str,
    a dict, bytes or a non-str item is refused with its position."""
    if isinstance(texts, str):  # iterating it would give its characters
        raise InputError(f"{name} must be a list (or other iterable) of str, got a single str {texts[:40]!r}; "
                         f"pass [{texts[:20]!r}...] for one text", argument=name)
    if isinstance(texts, (bytes, dict)) or not isinstance(texts, Iterable):
        raise InputError(f"{name} must be a str or an iterable of str, got {type(texts).__name__}",
                         argument=name)
    items = list(texts)
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise InputError(f"{name}[{i}] is {type(text).__name__}, expected str", argument=name)
    return items
