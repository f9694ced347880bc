"""Generic readers for the user's own CSV / TSV / JSONL files of pairs, triplets or labelled texts.

The file type comes from the extension (or ``file_type=``):

* ``.csv``: comma-separated with standard double-quote quoting;
* ``.tsv``: tab-separated, **no** quote processing (a ``"`` is an ordinary character);
* ``.jsonl``: one JSON object per line (blank lines are ignored).

``columns`` names where each field is: header names (CSV/TSV with a header line, or JSONL
keys), or 0-based integer indexes for CSV/TSV files without a header. Either a sequence in
the documented order, or a mapping ``{role: column}``, e.g.
``read_pairs(p, {"sentence1": "query", "sentence2": "passage", "label": "relevant"})``.

Texts are kept exactly as written. Labels are returned as strings (a JSON number label ``1``
becomes ``"1"``); ``Dataset.labels`` is the ``labels`` argument, or the sorted set of labels
found. Scores must be finite numbers, inside ``score_range`` when one is given.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError
from ._io import (
    RowError,
    collect,
    column_indexes,
    csv_rows,
    need_text,
    parse_score,
    read_text,
    require_rows,
    split_lines,
    tsv_rows,
)
from .examples import Dataset, PairExample, TextExample, TripletExample
from .labels import check_label

Column = str | int
Columns = Sequence[Column] | Mapping[str, Column]

FILE_TYPES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl"}


def file_type_of(path: Path, file_type: str | None = None) -> str:
    if file_type is not None:
        if file_type not in FILE_TYPES.values():
            raise InputError(f"file_type {file_type!r} for {path}: unknown; expected one of csv, tsv, jsonl")
        return file_type
    kind = FILE_TYPES.get(path.suffix.lower())
    if kind is None:
        raise InputError(
            f"{path}: cannot tell the file type from the extension {path.suffix!r}; expected .csv, .tsv or "
            ".jsonl, or pass file_type='csv' / 'tsv' / 'jsonl'"
        )
    return kind


def _roles(path: Path, columns: Columns, order: Sequence[str], required: int) -> dict[str, Column]:
    """Map roles to columns; a sequence fills ``order`` from the start."""
    if isinstance(columns, Mapping):
        roles = dict(columns)
        unknown = [r for r in roles if r not in order]
        if unknown:
            raise InputError(f"columns for {path}: unknown role {unknown[0]!r}; expected roles among {', '.join(order)}")
        missing = [r for r in order[:required] if r not in roles]
        if missing:
            raise InputError(f"columns for {path}: role {missing[0]!r} has no column; expected a column for each of {', '.join(order[:required])}")
    else:
        if isinstance(columns, (str, int)):
            columns = [columns]
        columns = list(columns)
        if not (required <= len(columns) <= len(order)):
            raise InputError(
                f"columns for {path}: {len(columns)} given; expected {required} to {len(order)} columns, for "
                + ", ".join(order[: max(required, len(columns))])
            )
        roles = dict(zip(order, columns))
    values = list(roles.values())
    if all(isinstance(c, str) for c in values):
        return roles
    if all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in values):
        return roles
    raise InputError(
        f"columns for {path}: {values!r} mixes kinds; expected all header names (strings) or all "
        "0-based column indexes (non-negative integers)"
    )


def _rows(path: Path, roles: dict[str, Column], file_type: str, header: bool | None):
    """``(rows, pick)``: ``pick(row)`` gives ``{role: raw value}`` or raises :class:`RowError`."""
    by_index = isinstance(next(iter(roles.values())), int)
    if file_type == "jsonl":
        if by_index:
            raise InputError(f"columns for {path}: integer indexes given for a JSONL file; expected key names")
        rows = [(n, s) for n, s in split_lines(read_text(path)) if s.strip()]

        def pick_json(line: str) -> dict[str, Any]:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RowError(None, f"is not valid JSON ({exc.msg})", "one JSON object per line") from None
            if not isinstance(obj, dict):
                raise RowError(None, f"is a JSON {type(obj).__name__}", "one JSON object per line")
            out = {}
            for role, key in roles.items():
                if key not in obj:
                    raise RowError(key, "is missing", "a key " + repr(key) + "; keys found: " + ", ".join(repr(k) for k in obj))
                out[role] = obj[key]
            return out

        return rows, pick_json

    has_header = (not by_index) if header is None else header
    if not by_index and not has_header:
        raise InputError(f"columns for {path}: header names given but header=False; expected 0-based indexes for a file without header")
    reader = csv_rows if file_type == "csv" else tsv_rows
    head, rows = reader(path, header=has_header)
    if by_index:
        indexes = dict(roles)
        width = len(rows[0][1]) if rows else 0
        if rows and max(indexes.values()) >= width:
            bad = max(indexes.values())
            raise InputError(
                f"{path}, line {rows[0][0]}, field {bad}: column index {bad} is out of range; expected an index "
                f"below {width}, the number of fields in the first row"
            )
    else:
        positions = column_indexes(path, head, list(roles.values()))
        indexes = dict(zip(roles, positions))
        width = len(head)
    sep = "comma" if file_type == "csv" else "tab"

    def pick_fields(fields: list[str]) -> dict[str, Any]:
        if len(fields) != width:
            origin = "as in the header" if has_header and not by_index else "as in the first row"
            hint = "" if file_type == "csv" else "; .tsv files are read without quote processing, so a tab inside a text shifts the columns"
            problem = "is an empty line" if fields in ([], [""]) else f"has {len(fields)} fields"
            raise RowError(None, problem, f"{width} {sep}-separated fields, {origin}{hint}")
        return {role: fields[i] for role, i in indexes.items()}

    return rows, pick_fields


def _field_name(roles: dict[str, Column], role: str) -> str:
    col = roles[role]
    return f"column {col}" if isinstance(col, int) else str(col)


def _label(value: Any, field: str, labels: Sequence[str] | None) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RowError(field, f"is {type(value).__name__} {value!r}", "a string or integer label")
    return check_label(str(value), field, labels)


def _finish(path, name_kind, examples, skipped, score_range, labels, found_labels):
    require_rows(path, examples, skipped)
    label_list = list(labels) if labels is not None else (sorted(found_labels) if found_labels else None)
    return Dataset(path.stem, "", path, examples, score_range, label_list, skipped, name_kind)


def _open(path: Path, columns, role_names: tuple[str, ...], required: int, file_type, header):
    """Roles of the columns, the row iterator, the picker of a row's values and each role's field name."""
    roles = _roles(path, columns, role_names, required)
    rows, pick = _rows(path, roles, file_type_of(path, file_type), header)
    return roles, rows, pick, {role: _field_name(roles, role) for role in roles}


def read_pairs(
    path: str | Path,
    columns: Columns = ("sentence1", "sentence2"),
    *,
    score_range: tuple[float, float] | None = None,
    labels: Sequence[str] | None = None,
    file_type: str | None = None,
    header: bool | None = None,
    skip_bad_rows: bool = False,
) -> Dataset:
    """Text pairs. ``columns``: ``(sentence1, sentence2)``, ``(sentence1, sentence2, score)`` or
    ``(sentence1, sentence2, score, label)``, or a mapping with roles ``sentence1``, ``sentence2`` and optionally ``score`` and/or
    ``label``. ``header`` defaults to True for names and False for indexes. ``kind`` is
    ``"sts"`` with a score column, else ``"pairs"``."""
    path = Path(path)
    roles, rows, pick, fields = _open(path, columns, ("sentence1", "sentence2", "score", "label"), 2, file_type, header)
    found: set[str] = set()

    def convert(row: Any) -> PairExample:
        values = pick(row)
        score = parse_score(values["score"], fields["score"], score_range) if "score" in values else None
        label = _label(values["label"], fields["label"], labels) if "label" in values else None
        if label is not None:
            found.add(label)
        return PairExample(
            need_text(values["sentence1"], fields["sentence1"]), need_text(values["sentence2"], fields["sentence2"]), score, label
        )

    examples, skipped = collect(path, rows, convert, skip_bad_rows)
    return _finish(path, "sts" if "score" in roles else "pairs", examples, skipped,
                   score_range if "score" in roles else None, labels if "label" in roles else None, found)


def read_triplets(
    path: str | Path,
    columns: Columns = ("anchor", "positive", "negative"),
    *,
    file_type: str | None = None,
    header: bool | None = None,
    skip_bad_rows: bool = False,
) -> Dataset:
    """(anchor, positive, negative) triplets. ``columns``: three columns in that order, or a
    mapping with roles ``anchor``, ``positive``, ``negative``."""
    path = Path(path)
    roles, rows, pick, fields = _open(path, columns, ("anchor", "positive", "negative"), 3, file_type, header)

    def convert(row: Any) -> TripletExample:
        values = pick(row)
        return TripletExample(*(need_text(values[r], fields[r]) for r in ("anchor", "positive", "negative")))

    examples, skipped = collect(path, rows, convert, skip_bad_rows)
    return _finish(path, "triplets", examples, skipped, None, None, set())


def read_labelled_texts(
    path: str | Path,
    columns: Columns = ("text", "label"),
    *,
    labels: Sequence[str] | None = None,
    file_type: str | None = None,
    header: bool | None = None,
    skip_bad_rows: bool = False,
) -> Dataset:
    """Texts with an optional label. ``columns``: ``(text,)`` or ``(text, label)``, or a mapping
    with roles ``text`` and optionally ``label``. ``kind`` is ``"classification"`` with a label
    column, else ``"text"``."""
    path = Path(path)
    roles, rows, pick, fields = _open(path, columns, ("text", "label"), 1, file_type, header)
    found: set[str] = set()

    def convert(row: Any) -> TextExample:
        values = pick(row)
        label = _label(values["label"], fields["label"], labels) if "label" in values else None
        if label is not None:
            found.add(label)
        return TextExample(need_text(values["text"], fields["text"]), label)

    examples, skipped = collect(path, rows, convert, skip_bad_rows)
    return _finish(path, "classification" if "label" in roles else "text", examples, skipped,
                   None, labels if "label" in roles else None, found)
