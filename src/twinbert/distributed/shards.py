"""Input shards: one PATH or glob -> the files in name order, their row counts (each file checked whole
before any work, as `twinbert encode` does) and their texts. .txt / .csv / .tsv / .jsonl go through
twinbert.formats.texts (same rows, same errors as a local encode); .parquet is read with pyarrow.

Row ids are global: the rows of the first file are 0 .. n0-1, the second file's continue after them, so
the ids are the row numbers of a local encode of the files one after the other.
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..formats.texts import count_texts, read_texts, text_format

PARQUET = (".parquet", ".pq")


@dataclass(frozen=True)
class Shard:
    index: int          # its position among the input files: output part-<index>.parquet
    path: str           # absolute
    rows: int
    first_id: int       # id of its first row
    size: int           # bytes, recorded to tell a changed input on resume
    column: str | None  # the column / field of the text (None for .txt)


def expand(inputs: str | os.PathLike | list) -> list[Path]:
    """The input files of a path, a glob ("data/*.jsonl") or a list of them, in name order, each once."""
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    found: list[Path] = []
    for item in items:
        text = str(item)
        matches = sorted(glob.glob(text)) if glob.has_magic(text) else [text]
        files = [Path(m) for m in matches if Path(m).is_file()]
        if not files:
            if not glob.has_magic(text):
                raise InputError(f"{text}: input file not found")
            raise InputError(f"{text}: no file matches the pattern", argument="input")
        found.extend(files)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique


def count_rows(path: Path, column: str | None) -> int:
    if path.suffix.lower() in PARQUET:
        return _parquet_table(path, column).num_rows
    return count_texts(path, column)


def read_rows(path: str | Path, column: str | None) -> list[str]:
    path = Path(path)
    if path.suffix.lower() in PARQUET:
        values = _parquet_table(path, column).column(0).to_pylist()
        return ["" if v is None else v for v in values]
    return list(read_texts(path, column))


def plan(inputs, column: str | None) -> list[Shard]:
    """The shards of ``inputs``, every file counted (and so checked) before any work. ``column`` names the
    text of .csv / .tsv / .jsonl / .parquet files; plain-text files among them need none and ignore it.
    The files are hashed later, once, for the manifest (twinbert.distributed.job), beside Ray's start-up."""
    paths = expand(inputs)
    mixed = any(text_format(p) != ".txt" or p.suffix.lower() in PARQUET for p in paths)
    shards, first = [], 0
    for k, path in enumerate(paths):
        own = None if mixed and text_format(path) == ".txt" and path.suffix.lower() not in PARQUET else column
        rows = count_rows(path, own)
        shards.append(Shard(k, str(path), rows, first, path.stat().st_size, own))
        first += rows
    if first == 0:
        raise InputError(f"{inputs}: no texts to encode", argument="input")
    return shards


def _parquet_table(path: Path, column: str | None):
    from ._ray import require_ray

    require_ray()
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})") from exc
    if not column:
        raise InputError(f"{path}: a .parquet file needs column=NAME, the column that holds the text "
                         f"(columns: {', '.join(schema.names)})", argument="column")
    if column not in schema.names:
        raise InputError(f"{path}: no column {column!r} (columns: {', '.join(schema.names)})")
    kind = schema.field(column).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise InputError(f"{path}: column {column!r} is {kind}, expected text (string)")
    return pq.read_table(path, columns=[column])
