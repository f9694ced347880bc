"""The compiled-model cache: a graph exported (and quantized) for one backend and precision is built once
per model fingerprint and reused by every later load.

Fingerprint = hash of the weights as loaded (every tensor's name, dtype, shape and bytes) + the settings
that shape the graph (backend, precision, outputs, calibration) + the runtime's version + EXPORT_VERSION.
An entry is a folder named by its fingerprint holding the graph files and manifest.json (the fingerprint
and each file's size and hash); it is built in a temp folder and renamed into place (formats/atomic.py).
Before use the manifest is checked against the files: a stale or corrupt entry (a truncated graph, a
changed file, a manifest of another version) is removed and rebuilt, never used.

Where: `.twinbert-compiled/` in the model folder when that is writable (the entry travels with the
model), else $TWINBERT_HOME/compiled, else ~/.cache/twinbert/compiled (the user cache dir, as
formats/e5_package.py picks it).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from ..errors import OutputError
from ..formats.atomic import atomic_folder, clean_stale

log = logging.getLogger("twinbert")

FOLDER = ".twinbert-compiled"
MANIFEST = "manifest.json"


def weights_hash(module: torch.nn.Module) -> str:
    """blake2b of every tensor of `module` (names, dtypes, shapes and bytes): what the graph is built from."""
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        if t.numel():
            digest.update(t.view(torch.uint8).numpy() if t.dim() else t.reshape(1).view(torch.uint8).numpy())
    return digest.hexdigest()


def fingerprint(weights: str, settings: dict) -> str:
    text = json.dumps({"weights": weights, **settings}, sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def user_root() -> Path:
    home = os.environ.get("TWINBERT_HOME")
    base = Path(home).expanduser() if home else Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "twinbert"
    return base / "compiled"


def writable(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK)


def root_for(model_folder: Path | None) -> Path:
    """The model folder's own cache when the folder is writable, else the user cache dir."""
    if model_folder is not None and writable(model_folder):
        return model_folder / FOLDER
    return user_root()


def _file_hash(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _valid(entry: Path, key: str) -> bool:
    """The entry is complete and unchanged: its manifest names this fingerprint and every file in it
    has the size and hash recorded when it was built."""
    try:
        manifest = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
        if manifest.get("fingerprint") != key or not isinstance(files, dict) or not files:
            return False
        for name, (size, digest) in files.items():
            path = entry / name
            if not path.is_file() or path.stat().st_size != size or _file_hash(path) != digest:
                return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


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
                files = {p.name: [p.stat().st_size, _file_hash(p)] for p in sorted(tmp.iterdir()) if p.is_file()}
                (tmp / MANIFEST).write_text(json.dumps({"fingerprint": key, "files": files}, indent=2))
    except (PermissionError, OutputError):
        if root == user_root():
            raise
        return entry(user_root(), key, build, what)
    return target


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
