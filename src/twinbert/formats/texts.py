"""Texts from a file, one per row, for the library (encoding a file, trimming a vocabulary to a corpus)
and the CLI alike: .txt (one text per line; a file of any other suffix is read as .txt), .csv/.tsv (a
named column, header row) and .jsonl (a named field). Read lazily, so a file of any size streams;
errors name the file, and the line where there is one.

One row per line in .txt and .jsonl: a blank line is an empty text, so output row i is input line i.
In .csv/.tsv a blank line is no record (the csv convention); every record has as many fields as the
header, so a stray comma or tab is an error rather than a silently cut or shifted text.
"""
from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError

FORMATS = (".txt", ".csv", ".tsv", ".jsonl")
_EOL = re.compile(rb"\r\n|\r|\n")  # a lone \r ends a line too (old Mac files); not \f, \v or U+2028
_BLOCK = 1 << 20


def _raw_lines(fh) -> Iterator[bytes]:
    """The lines of a binary file without their endings, read in blocks (memory: one block + one line)."""
    pending = b""
    while True:
        block = fh.read(_BLOCK)
        data = pending + block
        if not block:
            pieces = _EOL.split(data)
            yield from pieces[:-1] if pieces[-1] == b"" else pieces
            return
        carry = b"\r" if data.endswith(b"\r") else b""  # may be the first half of \r\n
        pieces = _EOL.split(data[:len(data) - len(carry)])
        pending = pieces.pop() + carry
        yield from pieces


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        fh = open(path, "rb")
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from e
    with fh:
        for number, raw in enumerate(_raw_lines(fh), start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(f"{path}, line {number}: not valid UTF-8 (byte {e.start}: "
                                 f"{raw[e.start:e.start + 1]!r}); convert the file to UTF-8") from None
            if number == 1:
                line = line.removeprefix("\ufeff")
            yield number, line


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
            raise InputError(f"{path}: column applies to .csv, .tsv and .jsonl files, not plain text",
                             argument="column")
        for _, line in _lines(path):
            yield line
        return
    if not column:
        raise InputError(f"{path}: a {kind} file needs column=NAME, the field that holds the text",
                         argument="column")
    if kind == ".jsonl":
        yield from _jsonl(path, column)
    else:
        yield from _table(path, column, kind)


def _jsonl(path: Path, column: str) -> Iterator[str]:
    for number, line in _lines(path):
        if not line.strip():
            yield ""  # a blank line is an empty text, as in .txt: row i stays line i
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


def _table(path: Path, column: str, kind: str) -> Iterator[str]:
    """CSV (quoted fields may span lines) or TSV (no quote processing: quotes are part of the text)."""
    numbered = _lines(path)
    first = next(numbered, None)
    if first is None:
        return  # an empty file holds no texts (the caller says so)
    header = next(csv.reader([first[1]], delimiter="," if kind == ".csv" else "\t"), [])
    duplicates = [name for name in header if name and header.count(name) > 1]
    if duplicates:
        raise InputError(f"{path}, line 1: column {duplicates[0]!r} appears {header.count(duplicates[0])} times "
                         "in the header; expected unique column names")
    if column not in header:
        raise InputError(f"{path}, line 1: no column {column!r} (columns: {', '.join(header)})")
    at, width = header.index(column), len(header)
    hint = "" if kind == ".csv" else " (.tsv has no quoting: a tab inside a text is a field separator)"
    for number, fields in _records(path, numbered, kind):
        if len(fields) != width:
            raise InputError(f"{path}, line {number}: {len(fields)} fields, expected {width} as in the header "
                             f"({', '.join(header)}){hint}")
        yield fields[at]


def _records(path: Path, numbered: Iterator[tuple[int, str]], kind: str) -> Iterator[tuple[int, list[str]]]:
    """(line the record starts on, fields) of each record after the header; blank lines are no records."""
    if kind == ".tsv":
        for number, line in numbered:
            if line:
                yield number, line.split("\t")
        return
    # strict: an unclosed quote is an error, not a field that silently swallows the rest of the file
    reader = csv.reader((line + "\n" for _, line in numbered), strict=True)
    start = 2
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise InputError(f"{path}, line {1 + reader.line_num}: malformed CSV ({e})") from None
        if row:  # a blank line is no record (as for csv.DictReader); an empty text is written ""
            yield start, row
        start = 2 + reader.line_num


def count_texts(path: str | Path, column: str | None = None) -> int:
    return sum(1 for _ in read_texts(path, column))
