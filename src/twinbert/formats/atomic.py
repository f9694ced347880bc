"""Atomic writes: build a file or folder under a temporary name beside the target, then rename it
into place, so a crash never leaves a half-written model, checkpoint, index or output."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from pathlib import Path

from ..errors import OutputError


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
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, mode, **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike):
    """Yield a temp path beside `target` for a writer that wants a path; rename it into place on success."""
    target = check_file_target(target)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp{target.suffix}")
    try:
        yield tmp
        _replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


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
    deleted only after the swap. A kill between the two renames leaves it as `.NAME.old-TAG`."""
    target = Path(target)
    _check_parent(target)
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target}: exists and is not a folder")
    tag = uuid.uuid4().hex[:8]
    tmp = target.with_name(f".{target.name}.tmp-{tag}")
    old = target.with_name(f".{target.name}.old-{tag}")
    tmp.mkdir()
    try:
        yield tmp
        fsync_dir(tmp)
        try:
            if target.exists():
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


# the names the writers above give their temps: a dot, the target's name and a tag of 8 hex digits
# the temp names the writers here make: atomic_folder / model_folder ".NAME.tmp-TAG" and ".NAME.old-TAG",
# atomic_file ".NAME.TAG.tmp", atomic_path ".NAME.TAG.tmp" + NAME's own suffix
_STALE = re.compile(r"\.(?P<name>.+)\.(?:(?P<kind>tmp|old)-[0-9a-f]{8}|[0-9a-f]{8}\.tmp(?P<suffix>\.[^.]+)?)")


def clean_stale(folder: str | os.PathLike, name: str | None = None) -> list[str]:
    """Remove what a killed writer left in `folder` (the temps of atomic_file, atomic_path, atomic_folder
    and model_folder; nothing else), so a later run never takes one for a result; with `name`, only the
    temps of that one target. A `.NAME.old-TAG` whose NAME is missing is the complete previous version
    (killed between atomic_folder's two renames): it is put back, not deleted. Returns the names handled."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    handled = []
    for entry in sorted(folder.iterdir()):
        match = _STALE.fullmatch(entry.name)
        if match is None or (name is not None and match["name"] != name) \
                or (match["suffix"] and match["suffix"] != Path(match["name"]).suffix):
            continue  # not a temp of ours (e.g. a user's ".out.npy.0123abcd.tmp.npy.bak")
        if match["kind"] == "old" and entry.is_dir() and not (folder / match["name"]).exists():
            os.replace(entry, folder / match["name"])
        elif entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        handled.append(entry.name)
    return handled
