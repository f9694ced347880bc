"""The bad-input cases as data: what a user typed, the exit code and the message they get.

Each area keeps its cases in a module `cases_<area>.py` in this folder, defining

    def build(root: Path, tiny: Path) -> None      # writes the input files its cases use under root
    CASES = [Case(...), ...]

`test_table.py` runs every case through the real CLI entry point in one child process, checks it, and
renders docs/bad-input.md from the results, so the documentation cannot drift from behaviour.
In `argv`, `{root}` is the folder of input files and `{tiny}` a tiny random BERT model folder; the
rendered table shows them as `DIR` and `MODEL`.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Case:
    id: str                       # unique, kebab-case
    doc: str                      # what the user did, in a few words (the table's first column)
    argv: tuple[str, ...]         # the twinbert command line, with {root} / {tiny} placeholders
    rc: int                       # the exit code expected (2 for a user error)
    expect: str                   # a substring the one line on stderr must contain
    check: Callable[[Path], None] | None = None   # extra assertions on the files under root afterwards


def modules():
    """The cases_<area> modules of this folder, in name order."""
    here = Path(__file__).parent
    return [importlib.import_module(f"bad_input.{p.stem}") for p in sorted(here.glob("cases_*.py"))]
