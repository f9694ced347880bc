"""encode_files: input shards -> Parquet shards + manifest on a Ray cluster, resumable.

The driver plans (counts every input's rows: global ids, and bad input found before any work) and then
starts the actor pool at once, while it prepares on a thread: loads the model once to check the options and
record its settings and fingerprint, hashes the inputs and writes the manifest. On one 2-core node the fixed
cost of Ray (ray.init, the actors' start and model load) is most of a small run, so the driver's own model
load and hashing run beside it instead of before it. The pending shards stream through read_shards ->
encode_dataset and the driver gathers each shard's rows as they arrive from the actors. A shard is written
when all its rows are in: sorted by id and checked to be exactly first_id .. first_id+rows-1 (nothing lost,
nothing twice, even when Ray retried a task after a worker died), then the manifest records its sha256.
A re-run with the same inputs and model skips the shards the manifest vouches for: their output file has
the recorded sha256 and their input file the recorded size and sha256 (an input edited in place, same size
and rows, has its shard encoded again).
"""
from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, OutputError
from ..formats.atomic import clean_stale
from ..formats.hashing import file_sha256, model_fingerprint
from ..formats.resolve import resolve
from ..formats.shard_manifest import (
    check_output_dir,
    new_manifest,
    read_manifest,
    shard_name,
    verified,
    write_manifest,
    write_shard,
)
from ..progress import Progress
from ._ray import connect, probe, quiet_stderr, unwrap
from .dataset import encode_dataset, read_shards
from .shards import Shard, plan

log = logging.getLogger("twinbert")


def encode_files(inputs, output_dir: str | os.PathLike, model: Any = "all-MiniLM-L6-v2", *, column: str | None = None,
                 address: str | None = None, actors: int | None = None, num_cpus: float | None = None,
                 num_gpus: float = 0, batch_size: int | None = None, keep_text: bool = False,
                 model_kwargs: dict | None = None, show_progress: bool = True, **encode_kwargs) -> dict[str, Any]:
    """Encode every row of ``inputs`` (a path, a glob or a list: .txt, .csv, .tsv, .jsonl, .parquet) on Ray
    into ``output_dir``: one Parquet shard per input file (``id``, ``embedding`` list<float32>, ``text`` with
    keep_text) and ``manifest.json``. Resumes a previous run of the same inputs and model. Returns a summary,
    with ``timings``: seconds from the call to the driver's model and manifest being ready (``prepared``),
    to Ray being up (``ray_init``), to the first encoded rows (``first_batch``) and to the end (``done``).

    address: the Ray cluster (None: a running session, or a new local runtime); model / model_kwargs /
    actors / num_cpus / num_gpus / batch_size: see :func:`encode_dataset`; encode_kwargs: encode()'s options.
    """
    clock = _Clock()
    shards = plan(inputs, column)
    folder = check_output_dir(output_dir, [s.path for s in shards])
    probe(address)  # a cluster that is not there: said within seconds, before Ray starts
    _check_model(model)
    previous = read_manifest(folder) if folder.is_dir() else None
    entries = _input_entries(shards) if previous else None  # a resume compares the inputs' hashes first
    finished = _finished(folder, previous, entries, column, keep_text) if previous else {}
    pending = [s for s in shards if s.rows and s.index not in finished]
    pool_kwargs = {"actors": actors, "num_cpus": num_cpus, "num_gpus": num_gpus, "batch_size": batch_size,
                   "model_kwargs": model_kwargs, "keep_columns": ("shard", "text") if keep_text else ("shard",),
                   **encode_kwargs}
    with ThreadPoolExecutor(1, thread_name_prefix="twinbert-prepare") as pool:
        prepared = pool.submit(_prepare, shards, entries, model, model_kwargs or {}, encode_kwargs, column, keep_text)
        with quiet_stderr(not show_progress):  # Ray's own lines off the terminal with --quiet
            start = time.perf_counter()
            stream = _start(pending, address, model, pool_kwargs, show_progress, clock)
            failures = stream.errors if stream is not None else ()
            try:
                encoder, options, manifest = prepared.result()
                clock.mark("prepared")
                _adopt(folder, previous, manifest, finished)
                for shard in shards:  # an empty input file: its (empty) shard at once
                    if not shard.rows and shard.index not in finished:
                        _finish(shard, [], folder, manifest, keep_text, manifest["dimension"])
                write_manifest(folder, manifest)
                if stream is not None:
                    _gather(stream, pending, folder, manifest, keep_text, show_progress, clock)
            except failures as exc:
                raise _failure(exc, folder, pending) from exc
            finally:
                if stream is not None:
                    stream.close()
    manifest["complete"] = True
    write_manifest(folder, manifest)
    seconds = time.perf_counter() - start
    clock.mark("done")
    todo = len(shards) - len(finished)
    done = sum(s.rows for s in pending)  # the non-empty ones
    return {"output": str(folder), "rows": manifest["rows"], "dimension": manifest["dimension"],
            "shards": len(shards), "encoded_shards": todo, "skipped_shards": len(finished),
            "encoded_rows": done, "seconds": round(seconds, 3),
            "rows_per_second": round(done / seconds, 1) if done and seconds else None,
            "settings": encoder.settings(options), "timings": clock.marks}


def _check_model(model) -> None:
    """A model that is not there: said now, before Ray starts (the name resolved without importing torch;
    a folder is checked by the load)."""
    if isinstance(model, (str, os.PathLike)) and not Path(model).expanduser().is_dir():
        resolve(model)


class _Clock:
    """Seconds since the run began, at each named step (the start-up's pieces, reported in the summary)."""

    def __init__(self):
        self.began, self.marks = time.perf_counter(), {}

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, round(time.perf_counter() - self.began, 3))


def _start(pending: list[Shard], address, model, pool_kwargs: dict, show_progress: bool, clock: _Clock) -> _Stream | None:
    """Ray up and the actor pool starting on the pending shards (None when there are none); pool_kwargs:
    encode_dataset's."""
    if not pending:
        return None
    ray = connect(address, quiet=not show_progress)
    clock.mark("ray_init")
    model = str(model) if isinstance(model, os.PathLike) else model  # a name or folder: loaded by each actor
    return _Stream(encode_dataset(read_shards(pending), model, "text", **pool_kwargs), ray.exceptions.RayError)


class _Stream:
    """The encoded batches, pulled from Ray Data on a thread from the moment it is made: the actor pool starts
    (worker processes, imports, model loads) while the driver still prepares. The queue is short, so Ray
    Data's own back-pressure still holds; an error of the run is raised where the batches are read."""

    DEPTH = 4

    def __init__(self, encoded, errors: type[BaseException]):
        self.errors = errors  # what a failed run raises (Ray's own error class)
        self._queue: queue.Queue = queue.Queue(self.DEPTH)
        self._stop = threading.Event()
        threading.Thread(target=self._pull, args=(encoded,), name="twinbert-ray-stream", daemon=True).start()

    def _pull(self, encoded) -> None:
        try:
            for batch in encoded.iter_batches(batch_size=None, batch_format="numpy"):
                if not self._put(("batch", batch)):
                    return  # closed: leaving the loop ends Ray Data's run
            self._put(("end", None))
        except BaseException as exc:  # handed to the reader, which raises it
            self._put(("error", exc))

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self):
        while True:
            kind, value = self._queue.get()
            if kind == "error":
                raise value
            if kind == "end":
                return
            yield value

    def close(self) -> None:
        """Stop pulling (the thread ends at its next batch; a finished run has ended already)."""
        self._stop.set()


def _prepare(shards: list[Shard], entries: list[dict] | None, model, model_kwargs: dict, encode_kwargs: dict,
             column, keep_text) -> tuple[Any, Any, dict[str, Any]]:
    """(encoder, options, manifest): the model loaded once in the driver, its options checked, and the
    manifest of this run (the inputs hashed unless ``entries`` already holds them)."""
    from .. import load

    encoder = load(model, **model_kwargs) if isinstance(model, (str, os.PathLike)) else model
    options = encoder.options(**encode_kwargs)
    if options.output != "sentence" or options.output_dtype != "float32":
        raise InputError("--engine ray writes float32 sentence vectors (quantize them afterwards)", argument="output")
    return encoder, options, _manifest(shards, encoder, options, column, keep_text, entries)


def _input_entries(shards: list[Shard]) -> list[dict[str, Any]]:
    """The manifest's record of each input file: path, bytes, sha256, rows, first id."""
    return [{"input": s.path, "input_bytes": s.size, "input_sha256": file_sha256(s.path), "rows": s.rows,
             "first_id": s.first_id} for s in shards]


def _manifest(shards: list[Shard], encoder, options, column, keep_text, entries: list[dict] | None = None) -> dict:
    settings = encoder.settings(options)
    model = {"name": str(encoder.name), "settings": settings, "fingerprint": model_fingerprint(encoder)}
    return new_manifest(model, column, keep_text, settings["dimension"],
                        entries if entries is not None else _input_entries(shards))


_SAME_INPUTS = ("format_version", "column", "text", "rows")
_SAME_SHARD = ("file", "input", "rows", "first_id")
_SAME_INPUT = ("input_bytes", "input_sha256")  # an input edited in place: its shard is encoded again


def _finished(folder: Path, old: dict[str, Any], entries: list[dict[str, Any]], column, keep_text) -> dict[int, str]:
    """{shard index: sha256} of the shards a previous run of these inputs finished, whose output files are
    intact and whose inputs did not change since; refuses a folder holding a run over other inputs. Needs no
    model: it is known before Ray starts (the model's part of the check is _adopt's)."""
    fresh = new_manifest(None, column, keep_text, 0, entries)
    differs = _input_difference(old, fresh)
    if differs:
        raise OutputError(f"{folder}: holds the shards of another run ({differs}); choose a new folder, or "
                          "delete this one to start afresh", argument="output")
    kept = {}
    for k, (entry, now) in enumerate(zip(old["shards"], fresh["shards"])):
        edited = [key for key in _SAME_INPUT if entry.get(key) != now[key]]
        if edited and entry.get("sha256"):
            log.warning("%s changed since its shard was encoded (%s); encoding it again", now["input"],
                        " and ".join(edited))
        if entry.get("sha256") and not edited and verified(folder, entry):
            kept[k] = entry["sha256"]
    return kept


def _adopt(folder: Path, old: dict[str, Any] | None, manifest: dict[str, Any], finished: dict[int, str]) -> None:
    """Make ``folder`` this run's: refuse another model's output, take over the shards a previous run
    finished (``finished``, from _finished) and delete what no manifest vouches for (temps a killed run
    left, shards half-written or unvouched)."""
    if old is not None:
        differs = _model_difference(old, manifest)
        if differs:
            raise OutputError(f"{folder}: holds the shards of another run ({differs}); choose a new folder, or "
                              "delete this one to start afresh", argument="output")
    folder.mkdir(exist_ok=True)
    clean_stale(folder)
    for k, entry in enumerate(manifest["shards"]):
        entry["sha256"] = finished.get(k)
        if k not in finished:
            (folder / entry["file"]).unlink(missing_ok=True)


def _input_difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """What makes a previous run's manifest a run over other inputs than this one, or None."""
    for key in _SAME_INPUTS:
        if old.get(key) != new[key]:
            return f"{key} {old.get(key)!r}, now {new[key]!r}"
    if len(old["shards"]) != len(new["shards"]):
        return f"{len(old['shards'])} input files, now {len(new['shards'])}"
    for before, now in zip(old["shards"], new["shards"]):
        for key in _SAME_SHARD:
            if before.get(key) != now[key]:
                return f"{now['file']}: {key} {before.get(key)!r}, now {now[key]!r}"
    return None


def _model_difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """What makes a previous run's manifest a run of another model (weights, settings, dimension), or None."""
    if old.get("dimension") != new["dimension"]:
        return f"dimension {old.get('dimension')!r}, now {new['dimension']!r}"
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


def _gather(stream: _Stream, pending: list[Shard], folder: Path, manifest: dict, keep_text: bool, show_progress: bool,
            clock: _Clock) -> None:
    """Collect the actors' rows per shard; write each shard (and the manifest) once all its rows are in."""
    by_index = {s.index: s for s in pending}
    parts: dict[int, list[dict[str, np.ndarray]]] = {s.index: [] for s in pending}
    counts = dict.fromkeys(by_index, 0)
    progress = Progress(sum(s.rows for s in pending), "encode (ray)", enabled=show_progress)
    for batch in stream:
        clock.mark("first_batch")
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
