"""JSON Lines read row by row, each bad line named: the one reader of the index folder's JSONL files."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError


def rows(path: Path) -> Iterator[tuple[int, object]]:
    """(line number, parsed value) of each line of ``path``; a line that is not JSON, or a file that cannot be
    read, is an InputError naming the file (and the line)."""
    try:
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, start=1):
                try:
                    yield line_no, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}, line {line_no}: not valid JSON ({exc})") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: missing or unreadable ({exc})") from exc


__all__ = ["rows"]
