"""Writing a model into a folder without destroying what the user had there.

Every model save goes through `save_model` (and the trainer's final publish through `install`):

  missing folder   the model is built beside it and renamed into place (fully atomic)
  empty folder     the model is built in a hidden folder inside it, then each entry is renamed in
  a model          the same, and the files of the old model that the new one lacks are removed
                   (a 2_Normalize/ the new model has not, a pytorch_model.bin beside a new
                   model.safetensors); every other file (notes, logs, data) is kept
  anything else    refused with OutputError, unless overwrite=True: then the model is written in and
                   the files already there are kept
  a model read     the folder of a model the writer reads (`sources`: names resolved to their folders,
                   compared as files, so ./m, a symlink and the name all match) is refused even with
                   overwrite=True: the output would destroy its own input

The commands that write a folder (export, trim-vocab, the trainings, recipe, index build) pass
model_ok=False: an existing model is only replaced with overwrite=True (the library's save() keeps
sentence-transformers' behaviour of saving over a previous model).

A folder is shared with the user, so it cannot be swapped whole (it may be the working directory).
The closest to atomic: the new files are complete and synced before any old one moves; config.json
and modules.json, which make a folder claim to be a model, are taken away first and put back last.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import OutputError, TwinbertError
from .atomic import fsync_dir, hold, release

# Entries that belong to a model. STRONG ones are evidence that a folder holds a model; the others
# (config.json, vocab.txt ...) are common names, so alone they do not make a folder a model.
STRONG = {"modules.json", "config_sentence_transformers.json", "sentence_bert_config.json", "model.safetensors",
          "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json", "tokenizer.json",
          "tokenizer_config.json", "special_tokens_map.json"}
WEAK = {"config.json", "vocab.txt", "vocab.json", "merges.txt", "added_tokens.json", "sentencepiece.bpe.model",
        "spiece.model", "tokenizer.model", "generation_config.json", "chat_template.jinja", "tf_model.h5",
        "flax_model.msgpack", "softmax_head", "onnx", "openvino"}
SHARD = re.compile(r"^(model|pytorch_model)-\d+-of-\d+\.(safetensors|bin)$")
# sentence-transformers module folders (1_Pooling/, 2_Dense/ ...); a user's "2024_notes/" is not one
MODULE = re.compile(r"^\d+_(Transformer|Pooling|Dense|Normalize|LayerNorm|Dropout|CNN|LSTM|WordEmbeddings|"
                    r"WordWeights|BoW|StaticEmbedding)$")
CLAIMS = ("config.json", "modules.json")  # removed first, written last (modules.json very last)
# Temps are hidden (classify ignores them) and named like atomic.py's (.NAME.tmp-TAG), so that
# atomic.clean_stale removes what a killed save left.


def is_model_part(name: str) -> bool:
    return name in STRONG or name in WEAK or bool(SHARD.match(name)) or bool(MODULE.match(name))


def _strong(entry: Path) -> bool:
    if entry.name in STRONG or SHARD.match(entry.name):
        return True
    # a sentence-transformers module folder (1_Pooling/config.json ...); 2_Normalize/ may be empty
    return entry.is_dir() and bool(MODULE.match(entry.name)) and (
        (entry / "config.json").is_file() or entry.name.endswith("_Normalize"))


def _visible(folder: Path, ignore: Iterable[str]) -> list[Path]:
    """The entries that count: hidden ones (.git, our own staging folders) and `ignore` do not."""
    ignore = set(ignore)
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.name not in ignore)


def classify(folder: str | os.PathLike, ignore: Iterable[str] = ()) -> str:
    """'missing', 'empty', 'model' or 'other' (a non-empty folder that is not a model); a path that
    exists and is not a folder is an OutputError."""
    folder = Path(folder)
    if not folder.exists():
        return "missing"
    if not folder.is_dir():
        raise OutputError(f"{folder}: exists and is not a folder")
    entries = _visible(folder, ignore)
    if not entries:
        return "empty"
    return "model" if any(_strong(p) for p in entries) else "other"


def source_folders(*models) -> list[Path]:
    """The folders that models are read from: each given by name or path, or a loaded model (its `name`);
    names are resolved without a download or conversion. One that finds no local folder is left out
    (loading it fails with its own error)."""
    from .resolve import resolve

    folders = []
    for model in models:
        name = model if isinstance(model, (str, os.PathLike)) else getattr(model, "name", None)
        if not isinstance(name, (str, os.PathLike)) or not str(name):
            continue
        try:
            folders.append(resolve(name, local_only=True))
        except (TwinbertError, OSError):
            pass
    return folders


def same_folder(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one folder (by identity on disk when both exist: a symlink, ./x, a bind)."""
    a, b = Path(a).expanduser(), Path(b).expanduser()
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_not_source(target: str | os.PathLike, sources: Iterable[str | os.PathLike], what: str = "model") -> None:
    """Refuse to write into the folder of a model being read (see the module docstring)."""
    for source in sources:
        if same_folder(target, source):
            raise OutputError(f"{target}: is the folder of the model being read ({source}); an output never "
                              f"goes into its own input, so the {what} is not written there even with "
                              "overwrite=True: choose another folder", argument="overwrite")


def check_target(target: str | os.PathLike, *, overwrite: bool, model_ok: bool, ignore: Iterable[str] = (),
                 what: str = "model", sources: Iterable[str | os.PathLike] = ()) -> str:
    """The one rule for where a model may be written (see the module docstring); returns classify().
    model_ok=False: an existing model is refused too unless overwrite (a command's output).
    sources: folders of the models being read, never written into."""
    target = Path(target)
    check_not_source(target, sources, what)
    kind = classify(target, ignore)
    if kind == "missing":
        parent = target.parent
        if not parent.is_dir():
            raise OutputError(f"{target}: cannot write, folder {parent} does not exist")
        if not os.access(parent, os.W_OK):
            raise OutputError(f"{target}: cannot write, folder {parent} is not writable")
        return kind
    if not os.access(target, os.W_OK):
        raise OutputError(f"{target}: cannot write, the folder is not writable")
    if overwrite or kind == "empty" or (kind == "model" and model_ok):
        return kind
    if kind == "model":
        raise OutputError(f"{target}: already holds a model; pass overwrite=True to replace it (other files "
                          "there are kept), or choose another folder", argument="overwrite")
    names = [p.name + ("/" if p.is_dir() else "") for p in _visible(target, ignore)]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    raise OutputError(f"{target}: not empty and not a {what} (it holds {shown}); pass overwrite=True to write "
                      f"the {what} into it anyway (those files are kept), or choose another folder",
                      argument="overwrite")


def save_model(target: str | os.PathLike, write: Callable[[Path], None], *, overwrite: bool = False,
               what: str = "model", model_ok: bool = True, sources: Iterable[str | os.PathLike] = ()) -> Path:
    """Write a model with `write(folder)` (which fills an empty folder) into `target` safely
    (check_target's rule, with `model_ok` and `sources`)."""
    target = Path(target)
    kind = check_target(target, overwrite=overwrite, model_ok=model_ok, what=what, sources=sources)
    tag = uuid.uuid4().hex[:8]
    stage = target.with_name(f".{target.name}.tmp-{tag}") if kind == "missing" else target / f".model.tmp-{tag}"
    stage.mkdir()
    lock = hold(stage)  # a live writer's stage: atomic.clean_stale leaves it alone
    try:
        write(stage)
        if kind == "missing":
            _finalize(stage)
            try:
                os.rename(stage, target)
            except OSError as e:
                raise OutputError(f"{target}: saving the {what} failed ({e.strerror or e})") from e
            fsync_dir(target.parent)
        else:
            install(stage, target, what=what)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        release(lock)
    return target


def install(source: Path, target: Path, *, what: str = "model") -> None:
    """Move the entries of the finished model folder `source` (on the same file system: inside `target`
    or beside it) into the existing folder `target`, replacing the model there (see the module docstring).
    On an error the moves already made are undone."""
    source, target = Path(source), Path(target)
    _finalize(source)
    new = {p.name for p in source.iterdir()}
    old = _old_model_parts(target) if classify(target) == "model" else set()
    trash = target / f".replaced.tmp-{uuid.uuid4().hex[:8]}"
    trash.mkdir()
    moved: list[tuple[Path, Path]] = []  # (from, to), to undo in reverse order

    def move(src: Path, dst: Path) -> None:
        os.rename(src, dst)
        moved.append((src, dst))

    order = sorted(new - set(CLAIMS)) + [c for c in CLAIMS if c in new]
    try:
        for name in CLAIMS:  # the folder stops claiming to be the old model first
            if (name in new or name in old) and _present(target / name):
                move(target / name, trash / name)
        for name in order:
            if _present(target / name):
                move(target / name, trash / name)
            move(source / name, target / name)
        for name in sorted(old - new):
            if _present(target / name):
                move(target / name, trash / name)
    except OSError as e:
        for src, dst in reversed(moved):
            try:
                os.rename(dst, src)
            except OSError:
                pass
        with contextlib.suppress(OSError):
            trash.rmdir()  # only when empty: a file that could not be moved back stays in it
        raise OutputError(f"{target}: saving the {what} failed ({e.strerror or e}); the folder is as it was") from e
    fsync_dir(target)
    shutil.rmtree(trash, ignore_errors=True)


def _present(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _old_model_parts(folder: Path) -> set[str]:
    """Names of the entries of the model in `folder`: the known names, and the module folders its
    modules.json lists (plain names only: a path leading elsewhere is never touched)."""
    parts = {p.name for p in folder.iterdir() if is_model_part(p.name)}
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        parts |= {m["path"] for m in modules if isinstance(m, dict) and isinstance(m.get("path"), str)
                  and m["path"] and "/" not in m["path"] and "\\" not in m["path"] and not m["path"].startswith(".")
                  and (folder / m["path"]).is_dir()}
    except (OSError, ValueError, TypeError):
        pass
    return parts


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask sets it, for every thread)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _finalize(folder: Path) -> None:
    """Give every file the mode a plain new file gets (safetensors writes 0600) and sync it to disk
    before it is renamed in."""
    mode = 0o666 & ~_umask()
    for root, _, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            os.chmod(path, mode)
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
        fsync_dir(Path(root))
