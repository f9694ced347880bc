"""The output folder of a distributed encode: Parquet shards and the manifest that vouches for them.

    OUT/
      manifest.json          format, model (name, settings, fingerprint), column, dimension, rows, complete,
                             and per shard: input file (path, bytes, rows), first id, output file, its sha256
      part-00000.parquet     id int64, embedding list<float32>, [text string]: input file 0's rows, by id
      part-00001.parquet     ...

Each shard is written under a temporary name, fsynced and renamed; then the manifest (also atomic) records
its sha256. So after a crash a shard file is either vouched for (same bytes as recorded: kept) or not
(redone): a re-run never trusts a file the manifest does not describe, nor a temp a killed run left. A
reader checks the same (read_complete): every shard there, with its recorded sha256 and rows.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data.examples import file_sha256
from ..errors import InputError, OutputError
from ..formats.atomic import atomic_file, atomic_path, clean_stale

FORMAT = "twinbert-embeddings"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def shard_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


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
    import pyarrow as pa
    import pyarrow.parquet as pq

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
    of a distributed encode's output (read_embeddings, twinbert.search.ivfpq_build)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None or not manifest.get("complete"):
        raise InputError(f"{folder}: no complete distributed encode here ({MANIFEST} missing, or the run did not "
                         "finish: run it again to resume)", argument=argument)
    path = folder / MANIFEST
    dimension = manifest.get("dimension")
    if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension <= 0:
        raise InputError(f"{path}: field 'dimension' is {dimension!r}; expected a positive integer", argument=argument)
    total = 0
    for k, entry in enumerate(manifest["shards"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or Path(entry["file"]).name != \
                entry["file"] or isinstance(entry.get("rows"), bool) or not isinstance(entry.get("rows"), int):
            raise InputError(f"{path}: shard entry {k} is not a {{\"file\", \"rows\", \"sha256\"}} record",
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
        total += rows
    if total != manifest.get("rows"):
        raise InputError(f"{path}: its shards hold {total} rows but it says rows={manifest.get('rows')!r}",
                         argument=argument)
    return manifest


def read_embeddings(folder: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors [rows, dim] float32) of a finished output folder, shard by shard in id order, every
    shard checked first (read_complete)."""
    import pyarrow.parquet as pq

    folder = Path(folder)
    manifest = read_complete(folder)
    ids, vectors = [], []
    for entry in manifest["shards"]:
        table = pq.read_table(folder / entry["file"], columns=["id", "embedding"])
        ids.append(table.column("id").to_numpy())
        flat = table.column("embedding").combine_chunks().flatten().to_numpy()
        vectors.append(flat.reshape(table.num_rows, manifest["dimension"]))
    return np.concatenate(ids), np.concatenate(vectors).astype(np.float32, copy=False)
