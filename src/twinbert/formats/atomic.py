"""Atomic writes: build a file or folder under a temporary name beside the target, then rename it
into place, so a crash never leaves a half-written model, checkpoint, index or output.

A writer holds an exclusive lock (POSIX flock) on its temp, and on the previous version while it moves it
aside, until it is done; the kernel drops the lock when the process dies, kill -9 included. So
`clean_stale` tells the leftovers of a dead writer (unlocked: removed, or put back) from the temps of a
live one (locked: left alone), on this host and without trusting pids. Where there is no flock (Windows),
only temps untouched for a day count as stale.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import uuid
from pathlib import Path

from ..errors import OutputError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

UNLOCKED_STALE_S = 86400  # without flock: a temp untouched this long is taken for a dead writer's


def hold(path: Path) -> int | None:
    """Lock `path` (a temp this process just created) as a live writer's: the descriptor that holds the
    lock (close it when done), or None when a cleaner removed the temp first (make another)."""
    if fcntl is None:
        return -1
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.path.samestat(os.fstat(fd), os.stat(path)):  # still the one we made, not removed meanwhile
            return fd
    except OSError:  # held by a cleaner that is removing it
        pass
    os.close(fd)
    return None


def release(fd: int | None) -> None:
    if fd is not None and fd >= 0:
        os.close(fd)  # closing drops the flock


@contextlib.contextmanager
def _dead_writers(path: Path):
    """Yields True, holding `path`'s lock, when no live writer holds it; else yields False."""
    if fcntl is None:
        try:
            stale = time.time() - path.lstat().st_mtime > UNLOCKED_STALE_S
        except OSError:
            stale = False
        yield stale
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        yield False
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        yield False  # a live writer holds it
        return
    try:
        yield True
    finally:
        os.close(fd)


def _make_temp(make) -> tuple[Path, int]:
    """make() -> a new temp path (created); retried when a cleaner takes it before we lock it."""
    for _ in range(5):
        path = make()
        fd = hold(path)
        if fd is not None:
            return path, fd
    raise OutputError(f"{path}: cannot hold a temporary file (removed again and again by another process)")


def _check_parent(target: Path) -> None:
    parent = target.parent
    if not parent.is_dir():
        raise OutputError(f"{target}: cannot write, folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{target}: cannot write, folder {parent} is not writable")


def check_file_target(target: str | os.PathLike) -> Path:
    """Fail early, before any work, when `target` cannot become a file: its folder is missing or
    read-only, or it is an existing folder."""
    target = Path(target)
    _check_parent(target)
    if target.is_dir():
        raise OutputError(f"{target}: cannot write, it is an existing folder")
    return target


def _replace(tmp: Path, target: Path) -> None:
    try:
        os.replace(tmp, target)
    except OSError as e:
        raise OutputError(f"{target}: cannot write ({e.strerror or e})") from e


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike, mode: str = "w", **open_kwargs):
    """Open a temp file beside `target`; on success fsync and rename it over `target`."""
    target = check_file_target(target)

    def make() -> Path:
        path = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        path.touch(exist_ok=False)
        return path

    tmp, lock = _make_temp(make)
    try:
        with open(tmp, mode, **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        release(lock)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike):
    """Yield a temp path beside `target` for a writer that wants a path; rename it into place on success."""
    target = check_file_target(target)

    def make() -> Path:  # created empty and locked; the writer writes into the same file
        path = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp{target.suffix}")
        path.touch(exist_ok=False)
        return path

    tmp, lock = _make_temp(make)
    try:
        yield tmp
        _replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        release(lock)


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (new files, renames) durable; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike, what: str = "folder"):
    """Yield an empty temp folder beside `target`; on success swap it into place. An existing folder
    is moved aside only once the new one is complete, put back if the new one cannot move in, and
    deleted only after the swap. A kill between the two renames leaves it as `.NAME.old-TAG`: the next
    atomic_folder of the same target (or clean_stale) puts it back or removes it."""
    target = Path(target)
    _check_parent(target)
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target}: exists and is not a folder")
    clean_stale(target.parent, target.name)  # what killed writes of this folder left (never a live one's)
    tag = uuid.uuid4().hex[:8]

    def make() -> Path:
        path = target.with_name(f".{target.name}.tmp-{tag}")
        path.mkdir()
        return path

    tmp, lock = _make_temp(make)
    old = target.with_name(f".{target.name}.old-{tag}")
    old_lock = None
    try:
        yield tmp
        fsync_dir(tmp)
        try:
            if target.exists():
                old_lock = hold(target)  # aside, it is still ours: no cleaner puts it back meanwhile
                os.replace(target, old)
                try:
                    os.replace(tmp, target)
                except BaseException:
                    os.replace(old, target)  # put the previous one back
                    raise
            else:
                os.replace(tmp, target)
        except OSError as e:
            raise OutputError(f"{target}: saving the {what} failed ({e}); any previous {what} there "
                              "is unchanged") from e
        fsync_dir(target.parent)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        release(old_lock)
        release(lock)


# the names the writers above give their temps: a dot, the target's name and a tag of 8 hex digits
# the temp names the writers here make: atomic_folder / model_folder ".NAME.tmp-TAG" and ".NAME.old-TAG",
# atomic_file ".NAME.TAG.tmp", atomic_path ".NAME.TAG.tmp" + NAME's own suffix
_STALE = re.compile(r"\.(?P<name>.+)\.(?:(?P<kind>tmp|old)-[0-9a-f]{8}|[0-9a-f]{8}\.tmp(?P<suffix>\.[^.]+)?)")


def clean_stale(folder: str | os.PathLike, name: str | None = None) -> list[str]:
    """Remove what a killed writer left in `folder` (the temps of atomic_file, atomic_path, atomic_folder
    and model_folder; nothing else), so a later run never takes one for a result; with `name`, only the
    temps of that one target. A temp a live writer holds (see the module docstring) is left alone. A
    `.NAME.old-TAG` whose NAME is missing is the complete previous version (killed between
    atomic_folder's two renames): it is put back, not deleted. What cannot be removed (a read-only
    folder) is left. Returns the names handled."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    handled = []
    for entry in sorted(folder.iterdir()):
        match = _STALE.fullmatch(entry.name)
        if match is None or (name is not None and match["name"] != name) \
                or (match["suffix"] and match["suffix"] != Path(match["name"]).suffix):
            continue  # not a temp of ours (e.g. a user's ".out.npy.0123abcd.tmp.npy.bak")
        with _dead_writers(entry) as dead:
            if not dead:
                continue
            try:
                if match["kind"] == "old" and entry.is_dir() and not (folder / match["name"]).exists():
                    os.replace(entry, folder / match["name"])
                elif entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink(missing_ok=True)
            except OSError:
                continue
        handled.append(entry.name)
    return handled
