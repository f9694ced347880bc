"""Input texts for the CLI: .txt (one text per line), .csv/.tsv (a named column, header row) and
.jsonl (a named field). Read lazily, so a file of any size streams; errors name the file and line."""
from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError

FORMATS = (".txt", ".csv", ".tsv", ".jsonl")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        fh = open(path, "rb")
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from e
    with fh:
        for number, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(f"{path}, line {number}: not valid UTF-8 (byte {e.start}: "
                                 f"{raw[e.start:e.start + 1]!r}); convert the file to UTF-8") from None
            if number == 1:
                line = line.removeprefix("\ufeff")
            yield number, line.rstrip("\r\n")


def text_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        return ".txt"
    return suffix


def read_texts(path: str | Path, column: str | None = None) -> Iterator[str]:
    """Yield the texts of `path` in order."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: input file not found")
    kind = text_format(path)
    if kind == ".txt":
        if column:
            raise InputError(f"{path}: --column applies to .csv, .tsv and .jsonl files, not plain text")
        for _, line in _lines(path):
            yield line
        return
    if not column:
        raise InputError(f"{path}: a {kind} file needs --column NAME to say which field holds the text")
    if kind == ".jsonl":
        for number, line in _lines(path):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                raise InputError(f"{path}, line {number}: not valid JSON ({e.msg})") from None
            if not isinstance(row, dict) or column not in row:
                found = ", ".join(row) if isinstance(row, dict) else type(row).__name__
                raise InputError(f"{path}, line {number}: no field {column!r} (found: {found})")
            if not isinstance(row[column], str):
                raise InputError(f"{path}, line {number}: field {column!r} is {type(row[column]).__name__}, expected text")
            yield row[column]
        return
    delimiter = "," if kind == ".csv" else "\t"
    lines = _lines(path)
    numbered = ((n, line) for n, line in lines)
    first = next(numbered, None)
    if first is None:
        raise InputError(f"{path}: empty file (expected a header row naming the columns)")
    header = next(csv.reader([first[1]], delimiter=delimiter))
    if column not in header:
        raise InputError(f"{path}, line 1: no column {column!r} (columns: {', '.join(header)})")
    at = header.index(column)
    if kind == ".tsv":  # TSV: no quote processing, quotes are part of the text
        for number, line in numbered:
            fields = line.split("\t")
            if len(fields) <= at:
                raise InputError(f"{path}, line {number}: {len(fields)} fields, column {column!r} is field {at + 1}")
            yield fields[at]
        return
    # CSV: quoted fields may span lines, so parse the decoded stream. strict: an unclosed quote is an
    # error, not a field that silently swallows the rest of the file.
    reader = csv.reader((line + "\n" for _, line in numbered), strict=True)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise InputError(f"{path}, line {1 + reader.line_num}: malformed CSV ({e})") from None
        if not row:  # a blank line is no record (as for csv.DictReader); an empty text is written ""
            continue
        if len(row) <= at:
            raise InputError(f"{path}, line {1 + reader.line_num}: {len(row)} fields, "
                             f"column {column!r} is field {at + 1}")
        yield row[at]


def count_texts(path: str | Path, column: str | None = None) -> int:
    return sum(1 for _ in read_texts(path, column))
