"""The compiled-model cache: a graph exported (and quantized) for one backend and precision is built once
per model fingerprint and reused by every later load.

Fingerprint = hash of the weights + the settings that shape the graph (backend, precision, outputs,
calibration) + the runtime's version + EXPORT_VERSION. The weights are those of the model folder's files
(`folder_hash`: config.json, the weights, any model code; read without building the torch model, so a warm
load never builds it), or, once they changed in memory, every tensor's name, dtype, shape and bytes
(`weights_hash`; see backbone.GraphBackbone.weights). All hashes are twinbert.formats.hashing's.
An entry is a folder named by its fingerprint holding the graph files and manifest.json (the fingerprint
and each file's size and hash); it is built in a temp folder and renamed into place (formats/atomic.py).
Before use the manifest is checked against the files: a stale or corrupt entry (a truncated graph, a
changed file, a manifest of another version) is removed and rebuilt, never used. OpenVINO writes its
compiled blobs (`<entry>/blobs/*.blob`) later, on the first compile, so they have a manifest of their own
(`blobs/manifest.json`, written under the entry's lock once the compile is done) and are checked the same
way before each compile: a blob it does not vouch for is deleted, and OpenVINO compiles afresh.

Where: `.twinbert-compiled/` in the model folder when that is writable (the entry travels with the
model), else $TWINBERT_HOME/compiled, else ~/.cache/twinbert/compiled (the user cache dir, as
formats/e5_package.py picks it). When neither can hold it (`.twinbert-compiled` is a file, the cache dir
is read-only), the graph is built in a temporary folder, used, and not kept: a warning says so.
"""
from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..errors import OutputError
from ..formats.atomic import atomic_file, atomic_folder, clean_stale
from ..formats.hashing import file_blake2b, json_blake2b, weights_blake2b

log = logging.getLogger("twinbert")

FOLDER = ".twinbert-compiled"
MANIFEST = "manifest.json"
BLOBS = "blobs"


weights_hash = weights_blake2b  # the key's weights once they changed in memory (see the module docstring)


def folder_hash(folder: Path) -> str:
    """The hash of what a model folder's torch backbone is built from: config.json, the weights (each shard
    of a sharded checkpoint) and any model code (*.py), by name and bytes. Equal hashes, equal models: a
    graph cached under it fits these files without the model being built to check."""
    from ..formats.checkpoint import read_json, weights_file

    weights = weights_file(folder)
    files = [folder / "config.json", weights, *sorted(folder.glob("*.py"))]
    if weights.name.endswith(".index.json"):
        files += sorted({folder / str(f) for f in read_json(weights)["weight_map"].values()})
    return json_blake2b({path.name: file_blake2b(path) for path in files})


def fingerprint(weights: str, settings: dict) -> str:
    return json_blake2b({"weights": weights, **settings})


def user_root() -> Path:
    home = os.environ.get("TWINBERT_HOME")
    base = Path(home).expanduser() if home else Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "twinbert"
    return base / "compiled"


def writable(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK)


def root_for(model_folder: Path | None) -> Path:
    """The model folder's own cache when the folder is writable, else the user cache dir."""
    if model_folder is not None and writable(model_folder):
        if not (model_folder / FOLDER).exists() or (model_folder / FOLDER).is_dir():
            return model_folder / FOLDER
        log.warning("compiled-model cache: %s is not a folder; caching in %s instead", model_folder / FOLDER,
                    user_root())
    return user_root()


def _files_match(folder: Path, files) -> bool:
    """Every file of `files` ({name: [size, hash]}) is in `folder` with that size and hash."""
    try:
        for name, (size, digest) in files.items():
            path = folder / name
            if not path.is_file() or path.stat().st_size != size or file_blake2b(path) != digest:
                return False
    except (AttributeError, TypeError, ValueError):  # not a {name: [size, hash]} record
        return False
    return True


def _record(folder: Path, names) -> dict:
    return {name: [(folder / name).stat().st_size, file_blake2b(folder / name)] for name in sorted(names)}


def _valid(entry: Path, key: str) -> bool:
    """The entry is complete and unchanged: its manifest names this fingerprint and every file in it
    has the size and hash recorded when it was built."""
    try:
        manifest = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
        if manifest.get("fingerprint") != key or not isinstance(files, dict) or not files:
            return False
        return _files_match(entry, files)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def has_entry(root: Path, key: str) -> bool:
    """Whether `root` holds a built entry for `key` (its manifest names the key and its files are there at
    their recorded sizes); `entry` checks their hashes before use."""
    folder = root / key
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        return manifest.get("fingerprint") == key and bool(manifest["files"]) and all(
            (folder / name).is_file() and (folder / name).stat().st_size == size
            for name, (size, _) in manifest["files"].items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def entry(root: Path, key: str, build: Callable[[Path], None], what: str) -> Path:
    """The folder of cache entry `key` under `root`, built by `build(empty folder)` when missing, stale
    or corrupt. Falls back to the user cache dir when `root` cannot be written."""
    target = root / key
    if target.is_dir() and _valid(target, key):
        return target
    try:
        root.mkdir(parents=True, exist_ok=True)
        with _locked(root / f".{key}.lock"):  # another process building the same entry: wait, then reuse
            if target.is_dir() and _valid(target, key):
                return target
            if target.exists():
                log.warning("compiled-model cache: %s is stale or corrupt; rebuilding it", target)
            clean_stale(root, key)  # what a killed build left (no live build: the lock is ours)
            with atomic_folder(target, what=f"compiled {what}") as tmp:
                log.info("compiling %s (once; cached in %s)", what, root)
                build(tmp)
                files = _record(tmp, [p.name for p in tmp.iterdir() if p.is_file()])
                (tmp / MANIFEST).write_text(json.dumps({"fingerprint": key, "files": files}, indent=2))
    except (OSError, OutputError) as e:  # read-only, full, or a file where a folder should be
        if root != user_root():
            log.warning("compiled-model cache: cannot write %s (%s); caching in %s instead", root, e, user_root())
            return entry(user_root(), key, build, what)
        return _uncached(key, build, what, reason=f"cannot write {root} ({e})")
    return target


def _uncached(key: str, build: Callable[[Path], None], what: str, reason: str) -> Path:
    """`build` in a temporary folder removed at exit: the run goes on, each load compiles again."""
    log.warning("compiled-model cache: %s; compiling the %s for this run only", reason, what)
    scratch = Path(tempfile.mkdtemp(prefix=f"twinbert-{key[:8]}-"))
    atexit.register(shutil.rmtree, scratch, True)
    folder = scratch / key  # a subfolder: its lock file (checked_blobs) goes with the scratch folder
    folder.mkdir()
    build(folder)
    return folder


@contextlib.contextmanager
def checked_blobs(entry_folder: Path):
    """The folder for OpenVINO's compiled blobs of a cache entry, or None (compile without caching).
    Before the compile, every blob is checked against blobs/manifest.json and one it does not vouch for
    (damaged, half-written by a killed compile, unknown) is deleted; after it, the blobs OpenVINO wrote are
    recorded. All under the entry's lock, so no other process compiles into the folder meanwhile."""
    blobs = entry_folder / BLOBS
    try:
        lock = _locked(entry_folder.parent / f".{entry_folder.name}.lock")
        lock.__enter__()
    except OSError:  # a read-only cache: use the blobs only if every one is vouched for, never write any
        known = _blob_manifest(blobs)
        ok = blobs.is_dir() and {p.name for p in blobs.iterdir()} <= {MANIFEST, *known} and _files_match(blobs, known)
        yield blobs if ok else None
        return
    try:
        try:
            blobs.mkdir(exist_ok=True)
            known = _blob_manifest(blobs)
            for path in sorted(blobs.iterdir()):
                good = path.name in known and _files_match(blobs, {path.name: known[path.name]})
                if path.name != MANIFEST and not good:
                    log.warning("compiled-model cache: %s is damaged or unknown; OpenVINO compiles afresh", path)
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
        except OSError as e:  # the entry itself cannot be written: compile without OpenVINO's cache
            log.warning("compiled-model cache: cannot check or clean %s (%s); compiling without it", blobs, e)
            yield None
            return
        yield blobs
        names = [p.name for p in blobs.iterdir() if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")]
        with atomic_file(blobs / MANIFEST, "w", encoding="utf-8") as fh:
            json.dump({"files": _record(blobs, names)}, fh, indent=2)
    finally:
        lock.__exit__(None, None, None)


def _blob_manifest(blobs: Path) -> dict:
    try:
        files = json.loads((blobs / MANIFEST).read_text(encoding="utf-8"))["files"]
        return files if isinstance(files, dict) else {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive advisory lock on `path` (POSIX flock; elsewhere no lock)."""
    try:
        import fcntl
    except ImportError:  # Windows: builds of one entry may race; the last complete one wins
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def clear(root: Path) -> None:
    """Remove every entry under `root` (the cache rebuilds what is asked for next)."""
    shutil.rmtree(root, ignore_errors=True)
