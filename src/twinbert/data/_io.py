"""Shared plumbing of the readers: decoding, splitting rows, column lookup, field parsing,
and turning a bad row into either an :class:`InputError` or a ``skipped`` entry.

Every message names the file, the 1-based line, the field, and what would be accepted.
"""
from __future__ import annotations

import contextlib
import csv
import gc
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError

NLI_LABELS = ["entailment", "neutral", "contradiction"]

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


@contextlib.contextmanager
def paused_gc():
    """Pause the cyclic garbage collector while building many small objects (rows, examples):
    they form no reference cycles, and repeated collections would triple the read time of a
    150,000-row file."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class RowError(Exception):
    """A row that cannot be read; ``field`` is ``None`` for a problem with the whole row."""

    def __init__(self, field: str | None, problem: str, expected: str):
        super().__init__(problem)
        self.field = field
        self.problem = problem
        self.expected = expected

    def where(self) -> str:
        return f"field {self.field!r}" if self.field is not None else "row"


def row_error(path: Path, line: int, err: RowError) -> InputError:
    return InputError(f"{path}, line {line}, {err.where()}: {err.problem}; expected {err.expected}")


def read_text(path: Path) -> str:
    """The file decoded as UTF-8, without a leading byte-order mark."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found; expected an existing data file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder; expected a data file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror}); expected a readable data file") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{path}, line {line}: bytes are not valid UTF-8 ({exc.reason}); expected a UTF-8 text file"
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def split_lines(text: str) -> list[tuple[int, str]]:
    """``(1-based line, line)`` for each line; ``\\r\\n`` endings are accepted, a missing final
    newline too, and blank lines at the very end of the file are not rows. Only ``\\n`` ends
    a line (``str.splitlines`` would also split on form feeds and other separators)."""
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    with paused_gc():
        return [(n, s[:-1] if s.endswith("\r") else s) for n, s in enumerate(lines, 1)]


def tsv_rows(path: Path, *, header: bool) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    """Tab-separated rows with no quote processing: a ``"`` is an ordinary character."""
    lines = split_lines(read_text(path))
    with paused_gc():
        rows = [(n, s.split("\t")) for n, s in lines]
    return _take_header(path, rows, header)


def csv_rows(path: Path, *, header: bool) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    """Comma-separated rows with standard double-quote quoting (RFC 4180). The line of a row is
    the line it starts on. A quoting error stops the read even with ``skip_bad_rows``: after
    one, where the next row starts is not known."""
    text = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        with paused_gc():
            for fields in reader:
                rows.append((start, fields))
                start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(
            f"{path}, line {start}, row: cannot be parsed as CSV ({exc}); expected comma-separated "
            'fields, a field holding commas, quotes or newlines enclosed in "..." with inner quotes doubled'
        ) from None
    while rows and len(rows[-1][1]) <= 1 and not "".join(rows[-1][1]).strip():  # blank lines at the end
        rows.pop()
    return _take_header(path, rows, header)


def _take_header(path: Path, rows: list, header: bool):
    if not header:
        return None, rows
    if not rows:
        raise InputError(f"{path}: the file is empty; expected a header line followed by data rows")
    header = [h.strip() for h in rows[0][1]]
    # a name twice makes "which column?" a guess: refuse it rather than silently read the first one
    twice = next((h for h in header if h and header.count(h) > 1), None)
    if twice is not None:
        raise InputError(f"{path}, line {rows[0][0]}: column {twice!r} appears {header.count(twice)} times in the "
                         "header; expected unique column names")
    return rows[0][1], rows[1:]


def column_indexes(path: Path, header: Sequence[str], wanted: Sequence[str]) -> list[int]:
    """Position of each wanted column in the header (line 1)."""
    found = [h.strip() for h in header]
    indexes = []
    for name in wanted:
        if name not in found:
            raise InputError(
                f"{path}, line 1, field {name!r}: column {name!r} is missing from the header; "
                f"columns found: {', '.join(repr(h) for h in found)}"
            )
        indexes.append(found.index(name))
    return indexes


def check_width(fields: Sequence[str], width: int, what: str) -> None:
    if len(fields) != width:
        raise RowError(
            None,
            f"has {len(fields)} fields",
            f"{width} fields ({what}); tab-separated files are read without quote processing, "
            "so a tab inside a text shifts the columns",
        )


def need_text(value: Any, field: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise RowError(field, f"is {type(value).__name__} {value!r}", "a string")
    if not allow_empty and not value.strip():
        raise RowError(field, "is empty", "a non-empty text")
    return value


def need_keys(record: Any, keys: Sequence[str]) -> dict:
    """A JSON record (an object) holding every key of `keys`."""
    if not isinstance(record, dict):
        raise RowError(None, f"is a JSON {type(record).__name__}", "a JSON object")
    for key in keys:
        if key not in record:
            raise RowError(key, "is missing", f"keys {', '.join(keys)}; found " + ", ".join(record))
    return record


def parse_score(value: Any, field: str, score_range: tuple[float, float] | None) -> float:
    """A finite number, inside ``score_range`` (inclusive) when one is given."""
    want = (
        f"a number from {score_range[0]:g} to {score_range[1]:g}" if score_range else "a finite number"
    )
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RowError(field, f"is {type(value).__name__} {value!r}", want)
    if isinstance(value, str):
        text = value.strip()
        if text.lower().lstrip("+-") in ("nan",):
            raise RowError(field, f"is NaN ({value!r})", want)
        if text.lower().lstrip("+-") in ("inf", "infinity"):
            raise RowError(field, f"is infinite ({value!r})", want)
        if not _NUMBER.fullmatch(text):
            raise RowError(field, f"{value!r} is not a number", want)
        score = float(text)
    else:
        score = float(value)
        if math.isnan(score):
            raise RowError(field, "is NaN", want)
    if math.isinf(score):
        raise RowError(field, f"is infinite ({value!r})", want)
    if score_range is not None and not (score_range[0] <= score <= score_range[1]):
        raise RowError(field, f"{value!r} is outside {score_range[0]:g}..{score_range[1]:g}", want)
    return score


def parse_label(value: Any, field: str, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise RowError(field, f"{value!r} is not a known label", "one of " + ", ".join(allowed))
    return value


def collect(
    path: Path,
    rows: Iterable[tuple[int, Any]],
    convert: Callable[[Any], Any],
    skip_bad_rows: bool,
) -> tuple[list, list[tuple[int, str]]]:
    """Run ``convert`` on every row. ``convert`` returns an example, or ``None`` for a row the
    format defines as unusable (dropped by design), and raises :class:`RowError` on a bad row:
    that row becomes an :class:`InputError`, or a ``(line, reason)`` entry in ``skipped``."""
    examples: list = []
    skipped: list[tuple[int, str]] = []
    with paused_gc():
        for line, row in rows:
            try:
                example = convert(row)
            except RowError as err:
                if not skip_bad_rows:
                    raise row_error(path, line, err) from None
                skipped.append((line, f"{err.where()}: {err.problem}"))
                continue
            if example is not None:
                examples.append(example)
    return examples, skipped


def require_rows(path: Path, examples: list, skipped: list) -> None:
    if examples:
        return
    if skipped:
        raise InputError(
            f"{path}: no rows could be read ({len(skipped)} skipped, first at line {skipped[0][0]}: "
            f"{skipped[0][1]}); expected at least one valid data row"
        )
    raise InputError(f"{path}: no rows (the file holds no data rows); expected at least one data row")


def json_array_records(path: Path) -> list[tuple[int, Any]]:
    """``(line the record starts on, record)`` for each element of a top-level JSON list."""
    text = read_text(path)
    decoder = json.JSONDecoder()
    n = len(text)

    def skip_ws(i: int) -> int:
        while i < n and text[i] in " \t\r\n":
            i += 1
        return i

    def fail(i: int, problem: str) -> InputError:
        line = text.count("\n", 0, i) + 1
        return InputError(f"{path}, line {line}: {problem}; expected a JSON list of objects")

    i = skip_ws(0)
    if i >= n or text[i] != "[":
        raise fail(i, "the file does not start with '['")
    i = skip_ws(i + 1)
    records: list[tuple[int, Any]] = []
    line, counted = 1, 0
    if i < n and text[i] == "]":
        i = skip_ws(i + 1)
    else:
        while True:
            line += text.count("\n", counted, i)
            counted = i
            try:
                obj, i = decoder.raw_decode(text, i)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{path}, line {exc.lineno}: invalid JSON ({exc.msg}); expected a JSON list of objects"
                ) from None
            records.append((line, obj))
            i = skip_ws(i)
            if i < n and text[i] == ",":
                i = skip_ws(i + 1)
                continue
            if i < n and text[i] == "]":
                i = skip_ws(i + 1)
                break
            raise fail(i, "expected ',' or ']' after a list element")
    if i != n:
        raise fail(i, "extra text after the JSON list")
    return records
