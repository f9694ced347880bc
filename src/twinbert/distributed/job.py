"""encode_files: input shards -> Parquet shards + manifest on a Ray cluster, resumable.

The driver plans (counts every input's rows: global ids, and bad input found before any work), loads the
model once to check the options and record its settings and fingerprint, then streams the pending shards
through read_shards -> encode_dataset and gathers each shard's rows as they arrive from the actors. A shard
is written when all its rows are in: sorted by id and checked to be exactly first_id .. first_id+rows-1
(nothing lost, nothing twice, even when Ray retried a task after a worker died), then the manifest records
its sha256. A re-run with the same inputs and model skips the shards the manifest vouches for: their
output file has the recorded sha256 and their input file the recorded size and sha256 (an input edited in
place, same size and rows, has its shard encoded again).
"""
from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, OutputError
from ..formats.atomic import clean_stale
from ..progress import Progress
from ._ray import connect, probe, quiet_stderr, unwrap
from .dataset import encode_dataset, read_shards
from .output import (
    FORMAT,
    FORMAT_VERSION,
    check_output_dir,
    read_manifest,
    shard_name,
    verified,
    write_manifest,
    write_shard,
)
from .shards import Shard, plan

log = logging.getLogger("twinbert")


def encode_files(inputs, output_dir: str | os.PathLike, model: Any = "all-MiniLM-L6-v2", *, column: str | None = None,
                 address: str | None = None, actors: int | None = None, num_cpus: float | None = None,
                 num_gpus: float = 0, batch_size: int | None = None, keep_text: bool = False,
                 model_kwargs: dict | None = None, show_progress: bool = True, **encode_kwargs) -> dict[str, Any]:
    """Encode every row of ``inputs`` (a path, a glob or a list: .txt, .csv, .tsv, .jsonl, .parquet) on Ray
    into ``output_dir``: one Parquet shard per input file (``id``, ``embedding`` list<float32>, ``text`` with
    keep_text) and ``manifest.json``. Resumes a previous run of the same inputs and model. Returns a summary.

    address: the Ray cluster (None: a running session, or a new local runtime); model / model_kwargs /
    actors / num_cpus / num_gpus / batch_size: see :func:`encode_dataset`; encode_kwargs: encode()'s options.
    """
    from .. import load

    shards = plan(inputs, column)
    folder = check_output_dir(output_dir, [s.path for s in shards])
    probe(address)  # a cluster that is not there: said within seconds, before the model loads
    encoder = load(model, **(model_kwargs or {})) if isinstance(model, (str, os.PathLike)) else model
    options = encoder.options(**encode_kwargs)  # bad options fail here, before Ray starts
    if options.output != "sentence" or options.output_dtype != "float32":
        raise InputError("--engine ray writes float32 sentence vectors (quantize them afterwards)", argument="output")
    manifest = _manifest(shards, encoder, options, column, keep_text)
    folder.mkdir(exist_ok=True)
    manifest["shards"] = _resume(folder, manifest)
    pending = [s for s, entry in zip(shards, manifest["shards"]) if not entry["sha256"]]
    todo = len(pending)
    for shard in [s for s in pending if s.rows == 0]:  # an empty input file: its (empty) shard at once
        _finish(shard, [], folder, manifest, keep_text, manifest["dimension"])
    pending = [s for s in pending if s.rows]
    write_manifest(folder, manifest)
    start = time.perf_counter()
    if pending:
        with quiet_stderr(not show_progress):  # Ray's own lines off the terminal with --quiet
            ray = connect(address, quiet=not show_progress)
            model_ref = str(model) if isinstance(model, (str, os.PathLike)) else encoder
            rows = read_shards(pending)
            encoded = encode_dataset(rows, model_ref, "text", actors=actors, num_cpus=num_cpus, num_gpus=num_gpus,
                                     batch_size=batch_size, model_kwargs=model_kwargs,
                                     keep_columns=("shard", "text") if keep_text else ("shard",), **encode_kwargs)
            try:
                _gather(encoded, pending, folder, manifest, keep_text, show_progress)
            except ray.exceptions.RayError as exc:
                raise _failure(exc, folder, pending) from exc
    manifest["complete"] = True
    write_manifest(folder, manifest)
    seconds = time.perf_counter() - start
    done = sum(s.rows for s in pending)  # the non-empty ones
    return {"output": str(folder), "rows": manifest["rows"], "dimension": manifest["dimension"],
            "shards": len(shards), "encoded_shards": todo, "skipped_shards": len(shards) - todo,
            "encoded_rows": done, "seconds": round(seconds, 3),
            "rows_per_second": round(done / seconds, 1) if done and seconds else None,
            "settings": encoder.settings(options)}


def _manifest(shards: list[Shard], encoder, options, column, keep_text) -> dict[str, Any]:
    from ..search.fingerprint import fingerprint  # not at import: the read tasks import this package

    settings = encoder.settings(options)
    return {"format": FORMAT, "format_version": FORMAT_VERSION,
            "model": {"name": str(encoder.name), "settings": settings, "fingerprint": fingerprint(encoder)},
            "column": column, "text": keep_text, "dimension": settings["dimension"],
            "rows": sum(s.rows for s in shards), "complete": False,
            "shards": [{"file": shard_name(s.index), "input": s.path, "input_bytes": s.size, "input_sha256": s.sha256,
                        "rows": s.rows, "first_id": s.first_id, "sha256": None} for s in shards]}


_SAME_RUN = ("format_version", "column", "text", "dimension", "rows")
_SAME_SHARD = ("file", "input", "rows", "first_id")
_SAME_INPUT = ("input_bytes", "input_sha256")  # an input edited in place: its shard is encoded again


def _resume(folder: Path, new: dict[str, Any]) -> list[dict[str, Any]]:
    """The shard entries of this run, with the sha256 of the shards a previous run of the same inputs and
    model finished (and whose files are intact); refuses a folder holding another run's output."""
    clean_stale(folder)  # temps a killed run left: never results
    old = read_manifest(folder)
    if old is None:
        return new["shards"]
    differs = _difference(old, new)
    if differs:
        raise OutputError(f"{folder}: holds the shards of another run ({differs}); choose a new folder, or "
                          "delete this one to start afresh", argument="output")
    entries = []
    for entry, fresh in zip(old["shards"], new["shards"]):
        edited = [key for key in _SAME_INPUT if entry.get(key) != fresh[key]]
        if edited and entry.get("sha256"):
            log.warning("%s changed since its shard was encoded (%s); encoding it again", fresh["input"],
                        " and ".join(edited))
        kept = entry.get("sha256") and not edited and verified(folder, entry)
        entries.append({**fresh, "sha256": entry["sha256"] if kept else None})
        if not kept:
            (folder / fresh["file"]).unlink(missing_ok=True)  # half-written or unvouched: redone
    return entries


def _difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """What makes a previous run's manifest another run than this one, or None."""
    for key in _SAME_RUN:
        if old.get(key) != new[key]:
            return f"{key} {old.get(key)!r}, now {new[key]!r}"
    if len(old["shards"]) != len(new["shards"]):
        return f"{len(old['shards'])} input files, now {len(new['shards'])}"
    for before, now in zip(old["shards"], new["shards"]):
        for key in _SAME_SHARD:
            if before.get(key) != now[key]:
                return f"{now['file']}: {key} {before.get(key)!r}, now {now[key]!r}"
    model, settings = old.get("model") or {}, _vector_settings(new["model"]["settings"])
    if model.get("fingerprint") != new["model"]["fingerprint"]:
        return f"the model's weights differ ({model.get('name')!r}, now {new['model']['name']!r})"
    before = _vector_settings(model.get("settings"))
    for key in sorted(set(before) | set(settings)):
        if before.get(key) != settings.get(key):
            return f"model setting {key} {before.get(key)!r}, now {settings.get(key)!r}"
    return None


def _failure(exc: Exception, folder: Path, pending: list[Shard]) -> Exception:
    """What a failed Ray run tells the user: a twinbert error raised in an actor; an input that vanished or
    changed while it was read (named: a resume cannot work until it is back); else Ray's first line, without
    its terminal colours."""
    cause = unwrap(exc)
    if cause is not exc:
        return cause
    for shard in pending:
        if not Path(shard.path).is_file():
            return InputError(f"{shard.path}: vanished while the run read it; put it back, then run the same "
                              "command again (finished shards are kept)")
        if os.path.getsize(shard.path) != shard.size:
            return InputError(f"{shard.path}: changed while the run read it; run the same command again once it "
                              "no longer changes (finished shards are kept)")
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(exc)).strip()  # Ray colours its messages for a terminal
    first = text.splitlines()[0] if text else type(exc).__name__
    return OutputError(f"{folder}: the Ray run failed ({first}); run the same command again to resume: finished "
                       "shards are kept")


def _vector_settings(settings: dict | None) -> dict:
    return {k: v for k, v in (settings or {}).items() if k not in ("model", "device", "precision")}


def _gather(encoded, pending: list[Shard], folder: Path, manifest: dict, keep_text: bool, show_progress: bool) -> None:
    """Collect the actors' rows per shard; write each shard (and the manifest) once all its rows are in."""
    by_index = {s.index: s for s in pending}
    parts: dict[int, list[dict[str, np.ndarray]]] = {s.index: [] for s in pending}
    counts = dict.fromkeys(by_index, 0)
    progress = Progress(sum(s.rows for s in pending), "encode (ray)", enabled=show_progress)
    for batch in encoded.iter_batches(batch_size=None, batch_format="numpy"):
        owners = batch["shard"]
        for index in np.unique(owners):
            if int(index) not in parts:
                raise OutputError(f"{shard_name(int(index))}: rows arrived after the shard was complete: "
                                  "rows doubled")
            mask = owners == index
            parts[int(index)].append({k: v[mask] for k, v in batch.items()})
            counts[int(index)] += int(mask.sum())
            shard = by_index[int(index)]
            if counts[shard.index] >= shard.rows:
                _finish(shard, parts.pop(shard.index), folder, manifest, keep_text)
        progress.update(len(owners))
    if show_progress:
        progress.close()
    if parts:
        missing = ", ".join(shard_name(i) for i in sorted(parts))
        raise OutputError(f"{folder}: the run ended without all rows of {missing}; run it again to resume")


def _finish(shard: Shard, parts: list[dict[str, np.ndarray]], folder: Path, manifest: dict, keep_text: bool,
            dimension: int = 0) -> None:
    if not parts:
        parts = [{"id": np.zeros(0, np.int64), "embedding": np.zeros((0, dimension), np.float32),
                  "text": np.zeros(0, object)}]
    ids = np.concatenate([p["id"] for p in parts]).astype(np.int64)
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    if not np.array_equal(ids, np.arange(shard.first_id, shard.first_id + shard.rows)):
        raise OutputError(f"{shard_name(shard.index)}: got {len(ids)} rows ({len(np.unique(ids))} distinct "
                          f"ids) for ids {shard.first_id}..{shard.first_id + shard.rows - 1}: rows lost or doubled")
    vectors = np.concatenate([np.stack(list(p["embedding"])) if p["embedding"].dtype == object else p["embedding"]
                              for p in parts])[order]
    texts = np.concatenate([p["text"] for p in parts])[order].tolist() if keep_text else None
    digest = write_shard(folder, shard.index, ids, vectors, texts)
    manifest["shards"][shard.index]["sha256"] = digest
    write_manifest(folder, manifest)
