"""The output folder of a distributed encode: Parquet shards of vectors and the manifest that vouches for them.

    OUT/
      manifest.json          format, model (name, settings, fingerprint), column, dimension, rows, complete,
                             and per shard: input file (path, bytes, sha256, rows), first id, output file,
                             its sha256 (null until the shard is written)
      part-00000.parquet     id int64, embedding list<float32>, [text string]: input file 0's rows, by id
      part-00001.parquet     ...

Written by twinbert.distributed (encode_files), read by read_embeddings (below) and by
twinbert.search.ivfpq_build (an IVF-PQ index built shard by shard). Each shard is written under a temporary
name, fsynced and renamed; then the manifest (also atomic) records its sha256. So after a crash a shard file
is either vouched for (same bytes as recorded: kept) or not (redone): a re-run never trusts a file the
manifest does not describe, nor a temp a killed run left. A reader checks the same (read_complete): every
shard there, with its recorded sha256 and rows. Parquet is read and written with pyarrow (the `ray` extra).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, OutputError
from ..extras import require
from .atomic import atomic_file, atomic_path, clean_stale
from .hashing import file_sha256

FORMAT = "twinbert-embeddings"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def shard_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def new_manifest(model: dict[str, Any] | None, column: str | None, text: bool, dimension: int,
                 inputs: list[dict[str, Any]]) -> dict[str, Any]:
    """The manifest of a run not yet done: ``inputs`` holds, per input file in order, its ``input`` path,
    ``input_bytes``, ``input_sha256``, ``rows`` and ``first_id``; each gets its shard's file name and a
    null sha256. model: the record of the model (name, settings, fingerprint); text: shards keep the texts."""
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "model": model, "column": column, "text": text,
            "dimension": dimension, "rows": sum(entry["rows"] for entry in inputs), "complete": False,
            "shards": [{"file": shard_name(k), **entry, "sha256": None} for k, entry in enumerate(inputs)]}


def check_output_dir(output: str | os.PathLike, inputs: list[str]) -> Path:
    """A new or empty folder, or one holding a previous run's manifest (resumed); never a file, a folder of
    other things, or a folder an input file lives in."""
    folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: exists and is not a folder; --output of --engine ray is a folder of "
                          "Parquet shards", argument="output")
    if folder.is_dir():
        if any(Path(p).parent == folder.resolve() for p in inputs):
            raise OutputError(f"{folder}: holds input files; write the shards to another folder", argument="output")
        others = [p.name for p in folder.iterdir() if not p.name.startswith(".")]
        if others and MANIFEST not in others:
            raise OutputError(f"{folder}: a non-empty folder without {MANIFEST} (not written by twinbert); choose "
                              "a new or empty folder", argument="output")
        read_manifest(folder)  # a broken one: said now, before the model loads
    elif not folder.parent.is_dir():
        raise OutputError(f"{folder}: cannot write, folder {folder.parent} does not exist", argument="output")
    return folder  # created by the run once the model and options are checked


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of ``folder`` (None when there is none); InputError when it is not one."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); move the folder away to start afresh") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("shards"), list):
        raise InputError(f"{path}: not a twinbert embeddings manifest (\"format\": \"{FORMAT}\")")
    return manifest


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    with atomic_file(folder / MANIFEST, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, ensure_ascii=False)


def verified(folder: Path, entry: dict[str, Any]) -> bool:
    """Whether the shard file of a manifest entry is there with the very bytes the manifest recorded."""
    path = folder / entry["file"]
    return bool(entry.get("sha256")) and path.is_file() and file_sha256(path) == entry["sha256"]


def write_shard(folder: Path, index: int, ids: np.ndarray, vectors: np.ndarray, texts: list | None) -> str:
    """Write one shard atomically; returns its sha256."""
    pa, pq = _pyarrow()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    offsets = np.arange(0, vectors.size + 1, vectors.shape[1], dtype=np.int32)
    columns = {"id": pa.array(ids, pa.int64()),
               "embedding": pa.ListArray.from_arrays(pa.array(offsets), pa.array(vectors.reshape(-1)))}
    if texts is not None:
        columns["text"] = pa.array(texts, pa.string())
    target = folder / shard_name(index)
    clean_stale(folder, target.name)
    with atomic_path(target) as tmp:
        pq.write_table(pa.table(columns), tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        digest = file_sha256(tmp)
    return digest


def read_complete(folder: str | os.PathLike, argument: str | None = None) -> dict[str, Any]:
    """The manifest of a finished output folder, every shard checked against it before any is read: there,
    with the sha256 recorded when it was written and the rows its entry says. The one check for every reader
    of a distributed encode's output (read_embeddings, twinbert.search.ivfpq_build). argument: the argument
    that named the folder, for the error."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None or not manifest.get("complete"):
        raise InputError(f"{folder}: no complete distributed encode here ({MANIFEST} missing, or the run did not "
                         "finish: run it again to resume)", argument=argument)
    path = folder / MANIFEST
    dimension = manifest.get("dimension")
    if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension <= 0:
        raise InputError(f"{path}: field 'dimension' is {dimension!r}; expected a positive integer", argument=argument)
    total = sum(_checked_rows(folder, k, entry, argument) for k, entry in enumerate(manifest["shards"]))
    if total != manifest.get("rows"):
        raise InputError(f"{path}: its shards hold {total} rows but it says rows={manifest.get('rows')!r}",
                         argument=argument)
    return manifest


def _checked_rows(folder: Path, k: int, entry: Any, argument: str | None) -> int:
    """The rows of shard entry k, after checking that its file is there, unchanged, and holds them."""
    pa, pq = _pyarrow()
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or Path(entry["file"]).name != \
            entry["file"] or isinstance(entry.get("rows"), bool) or not isinstance(entry.get("rows"), int):
        raise InputError(f"{folder / MANIFEST}: shard entry {k} is not a {{\"file\", \"rows\", \"sha256\"}} record",
                         argument=argument)
    shard = folder / entry["file"]
    if not shard.is_file():
        raise InputError(f"{shard}: missing; {MANIFEST} lists it (shard {k}). Encode again into a new folder, "
                         "or restore the file", argument=argument)
    if not verified(folder, entry):
        raise InputError(f"{shard}: damaged or changed since it was written (its sha256 differs from "
                         f"{MANIFEST}); encode again, or restore the file", argument=argument)
    try:
        rows = pq.read_metadata(shard).num_rows
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{shard}: not a readable Parquet file ({exc})", argument=argument) from exc
    if rows != entry["rows"]:
        raise InputError(f"{shard}: holds {rows} rows but {MANIFEST} says {entry['rows']}", argument=argument)
    return rows


def read_shard(path: Path, dimension: int, texts: bool = False) -> tuple[np.ndarray, np.ndarray, list | None]:
    """(ids int64 [rows], vectors float32 [rows, dimension], texts or None) of one shard file, in file order.
    texts: read the text column too (None when the shard has none)."""
    _, pq = _pyarrow()
    table = pq.read_table(path, columns=None if texts else ["id", "embedding"])
    flat = table.column("embedding").combine_chunks().flatten().to_numpy()
    vectors = flat.reshape(table.num_rows, dimension).astype(np.float32, copy=False)
    text = table.column("text").to_pylist() if texts and "text" in table.column_names else None
    return table.column("id").to_numpy(), vectors, text


def read_embeddings(folder: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors [rows, dim] float32) of a finished output folder, shard by shard in id order, every
    shard checked first (read_complete)."""
    folder = Path(folder)
    manifest = read_complete(folder)
    shards = [read_shard(folder / entry["file"], manifest["dimension"]) for entry in manifest["shards"]]
    return np.concatenate([ids for ids, _, _ in shards]), np.concatenate([vectors for _, vectors, _ in shards])


def _pyarrow():
    """(pyarrow, pyarrow.parquet); MissingExtraError naming the `ray` extra when pyarrow is not installed."""
    pq = require("pyarrow.parquet", "reading and writing embedding shards (Parquet)")
    import pyarrow

    return pyarrow, pq
