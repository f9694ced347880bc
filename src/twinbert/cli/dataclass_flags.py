"""Command-line flags derived from a config dataclass: one flag per field, so a setting is added to its
dataclass alone and every command that takes the dataclass offers it.

For each field of the dataclass:
- the flag is the field's name with dashes (max_batch_tokens: --max-batch-tokens);
- its type is the field's: int, float, str, Path; `X | None` reads X; a union holding str reads text (the
  library parses it); `Literal["a", "b"]` gives the choices; a bool is a switch pair --x / --no-x; a tuple
  or list of X reads X values joined by commas, or the flag repeated (each use adds to the list; '' is
  the empty list), which the help says;
- its help is the comment beside the field, continued by comment-only lines right below it (the house
  style: one dataclass with a comment per field), followed by "(default X)" unless the comment has its
  own "(default ...)";
- its default is the field's default, or the environment variable named by the field's metadata
  `{"env": "NAME"}` when that is set (the help then says $NAME).

`options` adjusts a flag where the command line needs more than the type says (a stricter argparse type
such as a port number, a metavar, other flag names under "flags"); `unset=True` makes every flag default
to None, for commands where a config file fills what the flags leave unset. `config_values` reads the
given flags back as the dataclass's keyword arguments.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import io
import os
import textwrap
import tokenize
import types
import typing
from pathlib import Path

SCALARS = (int, float, str, Path)
LIST_NOTE = "; joined by commas, or the flag repeated ('' for none)"
ITEMS = {int: "whole numbers", float: "numbers"}  # how an error names a list's items


def add_flags(parser, cls, *, exclude: tuple[str, ...] = (), unset: bool = False,
              options: dict[str, dict] | None = None) -> None:
    """One flag per field of dataclass `cls` (but `exclude`), as the module docstring says."""
    helps, hints = field_help(cls), typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        extra = dict((options or {}).get(f.name, {}))
        names = extra.pop("flags", None) or ["--" + f.name.replace("_", "-")]
        kwargs = _flag(f, hints[f.name], helps.get(f.name, ""), unset, names)
        parser.add_argument(*names, dest=f.name, **{**kwargs, **extra})


def config_values(args, cls) -> dict:
    """The fields of `cls` given on the command line (not None), as keyword arguments of `cls`."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if getattr(args, f.name, None) is not None}


def field_default(f: dataclasses.Field):
    """The field's default (its default_factory's value), or None when it has none."""
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else None


def field_help(cls) -> dict[str, str]:
    """The comment beside each field of dataclass `cls`, with the comment-only lines right below it;
    none when the source is not at hand (the flags then have no help, and still work)."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    comments, code_lines = {}, set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
        elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            code_lines.add(token.start[0])
    found = {}
    for node in ast.parse(source).body[0].body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            line = node.end_lineno
            parts = [comments[line]] if line in comments else []
            while line + 1 in comments and line + 1 not in code_lines:
                line += 1
                parts.append(comments[line])
            if parts:
                found[node.target.id] = " ".join(parts)
    return found


def _flag(f: dataclasses.Field, hint, text: str, unset: bool, names: list[str]) -> dict:
    """add_argument's keyword arguments for field `f` of type `hint` with help `text`, under flag `names`."""
    default, env = field_default(f), f.metadata.get("env")
    kind, choices = _kind(hint, f.name)
    value = None if unset else (os.environ.get(env) if env else None) or default
    if kind is bool and len(names) == 1 and names[0].startswith("--no-"):  # one flag, that turns it off
        return {"action": "store_false", "default": value, "help": _escaped(f"turn off (on by default): {text}")}
    if isinstance(kind, tuple):
        text += LIST_NOTE
    shown = f"${env}" if env else _shown(default)
    if shown and "(default" not in text:
        text = f"{text} (default {shown})".strip()
    kwargs = {"help": _escaped(text), "default": value}
    if kind is bool:
        return {**kwargs, "action": argparse.BooleanOptionalAction}
    if isinstance(kind, tuple):  # (container, item type)
        return {**kwargs, "type": _joined(*kind), "action": _Joined}
    return {**kwargs, "type": kind, "choices": choices}


def _escaped(text: str) -> str:
    return text.replace("%", "%%")  # argparse formats help with %


def _kind(hint, name: str):
    """(the argparse type of `hint`, its choices or None); a sequence type is (container, item type)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if len(args) == 1:
            return _kind(args[0], name)
        if str in args:  # e.g. `list | str`: the flag gives text, the library parses it
            return str, None
    elif origin is typing.Literal:
        return type(args[0]), list(args)
    elif origin in (tuple, list):
        return (origin, args[0]), None
    elif hint is bool or hint in SCALARS:
        return hint, None
    raise TypeError(f"field {name}: no command-line flag reads type {hint!r}; exclude it and add its flag by hand")


def _shown(default) -> str:
    """The default as the help shows it; '' for none (None, off, an empty list)."""
    if default is None or default is False or default == ():
        return ""
    if default is True:
        return "on"
    if isinstance(default, (tuple, list)):
        return ",".join(map(_shown, default))
    if isinstance(default, float):
        return repr(default).replace("e-0", "e-")  # 2e-5, not 2e-05
    return str(default)


def _joined(container, item):
    """argparse type: items joined by commas ('' is none), each read as `item`."""
    def parse(text: str):
        try:
            return container(item(part.strip()) for part in text.split(",") if part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {ITEMS.get(item, 'values')} joined by commas, got {text!r}") \
                from None
    parse.__name__ = f"{item.__name__} list"
    return parse


class _Joined(argparse.Action):
    """A list setting: the first use of the flag replaces the default, each further use adds to it."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = getattr(namespace, self.dest)
        setattr(namespace, self.dest, values if given is None or given is self.default else given + values)
