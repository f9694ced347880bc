"""The on-disk format of a search index (twinbert.search.Index): ONE folder::

    my-index/
      meta.json      format + version, model (name, vector settings, fingerprint of the weights:
                     see twinbert.formats.hashing), dimension, metric, backend, backend
                     parameters, tuning report, count, and the size and sha256 of every other
                     file (written last)
      vectors.npy    float32 [count, dimension], as searched (unit length for cosine)
      items.jsonl    one {"id": ..., "text": ...} per row, in vector order (text may be null)
      ann.faiss      the FAISS index (every backend but flat), in FAISS's own format: written and
                     read by twinbert.search._faiss, placed and synced here
      lexical.*      the lexical part, when built (twinbert.search.lexical): bm25s's arrays, vocabulary
                     and parameters, and the analysed term ids of every row; meta.json's "lexical"
                     records its settings, row count and files (checksummed like every other file);
                     "fusion" the fusion hybrid search uses (twinbert.search.fusion)

An index whose rows live in a search engine (backend "milvus": twinbert.search.milvus) is meta.json alone:
where the rows are (backend_params: URI, collection, the engine's index), the model, the lexical settings,
the fusion and the row count when saved; no vectors.npy or items.jsonl.

``save`` writes a temporary folder beside the target, fsyncs every file, then swaps it in by
renames, so a crash leaves either the previous index or the new one, never a mix. It never replaces
another index unless told to (``overwrite=True``), and never deletes a file it did not write: into a
folder that holds other files too, only the index's own files are renamed in. ``read`` checks every
file against meta.json (size and sha256, then the content) and names the one at fault. A save killed
midway leaves `.NAME.tmp-TAG` / `.NAME.old-TAG` beside the folder: the next save or read of it removes
them, or puts the previous index back, once their writer is dead (formats/atomic.py), never a live one's.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, OutputError
from ..similarity import METRICS
from . import jsonl
from .atomic import atomic_folder, clean_stale, fsync_dir, hold, release
from .hashing import file_sha256
from .index_documents import DOCUMENT_FILES
from .mapped import mapped_blocks

FORMAT = "twinbert-index"
FORMAT_VERSION = 1
BACKENDS = ("flat", "hnsw", "ivf", "ivfpq", "int8", "binary", "milvus")
REMOTE = ("milvus",)  # backends whose rows live in a search engine: the folder is meta.json alone
META_FILE, VECTORS_FILE, ITEMS_FILE, ANN_FILE = "meta.json", "vectors.npy", "items.jsonl", "ann.faiss"
LEXICAL_FILES = ("lexical.params.json", "lexical.vocab.json", "lexical.data.npy", "lexical.indices.npy",
                 "lexical.indptr.npy", "lexical.terms.npy", "lexical.offsets.npy")
INDEX_FILES = (META_FILE, VECTORS_FILE, ITEMS_FILE, ANN_FILE, *LEXICAL_FILES, *DOCUMENT_FILES)
_TUNING_KEYS = {"target", "k", "queries", "count", "queries_from"}


@dataclass
class IndexFolder:
    """What an index folder holds. ``ann_path``: where FAISS's file is (set by ``read``, for hnsw and ivf)."""

    vectors: np.ndarray          # float32 [count, dimension]; memory-mapped when read for hnsw / ivf
    ids: list                    # str or int, unique, in vector order
    texts: list                  # str or None, in vector order
    metric: str
    backend: str
    backend_params: dict[str, Any]
    model: dict[str, Any] | None
    tuning: dict[str, Any] | None
    ann_path: Path | None = None
    lexical: dict[str, Any] | None = None   # meta.json's "lexical": settings, count, files
    fusion: dict[str, Any] | None = None    # meta.json's "fusion": the hybrid search's fusion and its report
    documents: dict[str, Any] | None = None  # meta.json's "documents": a document index's chunking and counts
    count: int | None = None     # a REMOTE index's row count when saved (its rows are in the engine, not here)

    def meta(self) -> dict[str, Any]:
        """The content of meta.json."""
        remote = self.backend in REMOTE
        files = [META_FILE] + ([] if remote else [VECTORS_FILE, ITEMS_FILE])
        files += [ANN_FILE] if self.backend not in ("flat", *REMOTE) else []
        files += list((self.lexical or {}).get("files", {}))
        files += list(DOCUMENT_FILES) if self.documents is not None else []
        return {"documents": self.documents, "lexical": self.lexical, "fusion": self.fusion, "format": FORMAT, "format_version": FORMAT_VERSION, "model": self.model,
                "dimension": int(self.vectors.shape[1]), "metric": self.metric,
                "normalized": self.metric == "cosine", "backend": self.backend,
                "backend_params": self.backend_params, "tuning": self.tuning,
                "count": self.count if remote else len(self.ids),
                "files": files}


# --------------------------------------------------------------------------- writing

def _is_index(folder: Path) -> bool:
    """Whether ``folder`` holds a meta.json that twinbert wrote (valid or not in its details)."""
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT


def check_save_path(path: str | os.PathLike, overwrite: bool = False, home: Path | None = None,
                    sources=()) -> Path:
    """Where an index may be saved (checked before any work by ``twinbert index build``): a new or
    empty folder; an existing index or a folder of other files only with overwrite=True (or the
    index's own folder, ``home``); never a file, nor over files named like the index's own in a folder
    that is not an index (another program's), nor the folder of the model that encodes it (``sources``:
    names or paths; the rule of twinbert.formats.model_folder)."""
    from .model_folder import check_not_source, source_folders

    target = Path(path)
    check_not_source(target, source_folders(*sources), what="index")
    if not target.exists():
        return target
    if not target.is_dir():
        raise OutputError(f"{target}: exists and is not a folder; an index is saved as a folder")
    if not any(target.iterdir()):
        return target
    is_index = _is_index(target)
    if not is_index:
        clash = [name for name in INDEX_FILES if (target / name).exists()]
        if clash:
            raise OutputError(f"{target}: holds {clash[0]} but no twinbert index ({META_FILE} missing or "
                              "not twinbert's); refusing to replace files twinbert did not write "
                              "(choose another path)")
    if overwrite or (is_index and home is not None and target.resolve() == home):
        return target
    if is_index:
        raise OutputError(f"{target}: an index already exists here; pass overwrite=True to replace it",
                          argument="overwrite")
    raise OutputError(f"{target}: a non-empty folder that is not an index; pass overwrite=True to write "
                      "the index into it (its other files are kept), or choose another path",
                      argument="overwrite")


def save(index: IndexFolder, path: str | os.PathLike, *, write_ann: Callable[[Path], None] | None = None,
         overwrite: bool = False, home: Path | None = None, sources=(),
         write_lexical: Callable[[Path], None] | None = None,
         write_documents: Callable[[Path], None] | None = None) -> Path:
    """Write ``index`` to the folder ``path`` atomically (see the module docstring); ``write_ann``
    writes FAISS's file to the path it is given. ``home``: the folder the index was loaded from or
    last saved to, which it may update without ``overwrite``. ``write_lexical`` writes the lexical
    part's files (LEXICAL_FILES) into the folder it is given; they are synced and hashed here."""
    target = check_save_path(path, overwrite, home=home, sources=sources)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{target}: cannot create the index folder ({exc})") from exc

    def write(tmp: Path) -> None:
        _write_files(index, tmp, target, write_ann, write_lexical, write_documents)

    if target.is_dir() and any(p.name not in INDEX_FILES for p in target.iterdir()):
        _write_beside_others(target, write)
    else:
        with atomic_folder(target, "index") as tmp:
            write(tmp)
    return target


def _write_synced(path: Path, write: Callable[[Any], Any]) -> None:
    with open(path, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def _write_files(index: IndexFolder, tmp: Path, target: Path, write_ann: Callable[[Path], None] | None,
                 write_lexical: Callable[[Path], None] | None = None,
                 write_documents: Callable[[Path], None] | None = None) -> None:
    try:
        if index.backend not in REMOTE:
            _write_synced(tmp / VECTORS_FILE, lambda f: np.save(f, index.vectors, allow_pickle=False))
            _write_synced(tmp / ITEMS_FILE, lambda f: f.writelines(
                (json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n").encode("utf-8")
                for i, t in zip(index.ids, index.texts)))
        if write_ann is not None:
            write_ann(tmp / ANN_FILE)
            with open(tmp / ANN_FILE, "rb+") as f:  # faiss wrote it: sync it ourselves
                os.fsync(f.fileno())
        if write_lexical is not None:
            write_lexical(tmp)
            index.lexical = {**(index.lexical or {}), "files": _synced(tmp, LEXICAL_FILES)}
        if write_documents is not None:  # a document index's documents (twinbert.formats.index_documents)
            write_documents(tmp)
        write_meta(index, tmp)
    except OSError as exc:
        raise OutputError(f"{target}: saving the index failed ({exc}); "
                          "any previous index there is unchanged") from exc


def write_meta(index: IndexFolder, folder: Path) -> None:
    """meta.json, written last: the index's description and the size and sha256 of every other file in
    ``folder`` (whoever wrote them: FAISS's file, any part added later), which ``read`` checks."""
    meta = {**index.meta(), "checksums": checksums(folder)}
    _write_synced(folder / META_FILE, lambda f: f.write(json.dumps(meta, indent=2, ensure_ascii=False).encode("utf-8")))


def checksums(folder: Path) -> dict[str, dict[str, Any]]:
    """{relative path: {"bytes", "sha256"}} of every file under ``folder`` but meta.json."""
    return {p.relative_to(folder).as_posix(): {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != META_FILE}


def _write_beside_others(target: Path, write: Callable[[Path], None]) -> None:
    """Save into a folder that also holds files twinbert did not write, keeping them: write the
    files into a temp folder inside it, then rename them in, meta.json last. A crash in between
    leaves no meta.json: the folder is no longer taken for an index, never for a mixed one."""
    clean_stale(target, "index")  # a killed save's temp: never a live one's
    tmp = target / f".index.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    lock = hold(tmp)
    try:
        write(tmp)
        fsync_dir(tmp)
        try:
            (target / META_FILE).unlink(missing_ok=True)
            for name in INDEX_FILES:  # an index file the new index lacks (ann.faiss of an old hnsw)
                if not (tmp / name).exists():
                    (target / name).unlink(missing_ok=True)
            for name in sorted(os.listdir(tmp), key=lambda n: n == META_FILE):
                os.replace(tmp / name, target / name)
        except OSError as exc:
            raise OutputError(f"{target}: saving the index failed ({exc})") from exc
        fsync_dir(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        release(lock)


# --------------------------------------------------------------------------- reading

def read(path: str | os.PathLike) -> IndexFolder:
    """The index folder at ``path``, every file checked against meta.json (FAISS's file only found:
    twinbert.search._faiss reads it)."""
    folder = Path(path)
    clean_stale(folder.parent, folder.name)  # a killed save's leftovers: the previous index put back, temps gone
    clean_stale(folder, "index")
    if not folder.is_dir():
        leftovers = sorted(folder.parent.glob(f".{folder.name}.old-*")) if folder.parent.is_dir() else []
        if leftovers:
            raise InputError(f"{folder}: no index here, but {leftovers[-1]} holds the previous one "
                             f"(a save was interrupted); rename it to {folder} to restore it")
        raise InputError(f"{folder}: no index folder here (expected a folder with {META_FILE}, "
                         f"{VECTORS_FILE} and {ITEMS_FILE})")
    meta = _read_meta(folder / META_FILE)
    _check_sums(folder, meta)
    dimension, count, backend = meta["dimension"], meta["count"], meta["backend"]
    if backend in REMOTE:  # meta.json alone: the rows are the engine's (twinbert.search.milvus reads the rest)
        return IndexFolder(np.zeros((0, dimension), np.float32), [], [], metric=meta["metric"], backend=backend,
                           backend_params=meta["backend_params"], model=meta["model"], tuning=meta.get("tuning"),
                           lexical=meta.get("lexical"), fusion=meta.get("fusion"), count=count)
    vectors = _read_vectors(folder / VECTORS_FILE, dimension, count, memory_map=backend != "flat")
    ids, texts = _read_items(folder / ITEMS_FILE, count)
    ann_path = None
    if backend != "flat":
        ann_path = folder / ANN_FILE
        if not ann_path.is_file():
            raise InputError(f"{ann_path}: missing; backend={backend!r} needs it")
    lexical = _check_lexical(folder, meta, count)
    return IndexFolder(vectors, ids, texts, metric=meta["metric"], backend=backend,
                       backend_params=meta["backend_params"], model=meta["model"], tuning=meta.get("tuning"),
                       ann_path=ann_path, lexical=lexical, fusion=meta.get("fusion"), documents=meta.get("documents"))


def _check_sums(folder: Path, meta: dict[str, Any]) -> None:
    """Every file meta.json vouches for is there with the bytes it recorded (an index saved before
    checksums were recorded has none to check)."""
    recorded = meta.get("checksums") or {}
    if not isinstance(recorded, dict):
        raise InputError(f"{folder / META_FILE}: field 'checksums' is {recorded!r}; expected an object")
    for name, want in recorded.items():
        path = folder / name
        if not path.is_file():
            raise InputError(f"{path}: missing; the index folder is incomplete ({META_FILE} lists it)")
        if not isinstance(want, dict) or path.stat().st_size != want.get("bytes") \
                or file_sha256(path) != want.get("sha256"):
            raise InputError(f"{path}: damaged or changed since the index was saved (its size or sha256 differs "
                             f"from {META_FILE}); rebuild the index, or restore the file from a backup")


def _read_meta(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"{path}: missing; not a twinbert index folder, or one whose save never finished")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(f"{path}: not a twinbert index description (expected \"format\": \"{FORMAT}\")")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise InputError(f"{path}: format_version {version!r}; this twinbert reads version {FORMAT_VERSION}")

    def field(name: str, ok: Callable[[Any], bool], accepted: str) -> None:
        value = meta.get(name)
        if not ok(value):
            raise InputError(f"{path}: field {name!r} is {value!r}; expected {accepted}")

    def count_like(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    field("dimension", lambda v: count_like(v) and v > 0, "a positive integer")
    field("count", count_like, "a non-negative integer")
    field("metric", lambda v: v in METRICS, f"one of {', '.join(METRICS)}")
    field("backend", lambda v: v in BACKENDS, f"one of {', '.join(BACKENDS)}")
    field("backend_params", lambda v: isinstance(v, dict), "an object")
    field("tuning", lambda v: v is None or (isinstance(v, dict) and set(v) >= _TUNING_KEYS),
          "null or a tuning report")
    text_or_none = (str, type(None))
    field("model", lambda v: v is None or (isinstance(v, dict) and isinstance(v.get("name"), text_or_none)
                                           and isinstance(v.get("fingerprint"), text_or_none)),
          "null or an object with a \"name\" (and a \"fingerprint\" string, if any)")
    return meta


def _read_vectors(path: Path, dimension: int, count: int, memory_map: bool) -> np.ndarray:
    if not path.is_file():
        raise InputError(f"{path}: missing; the index folder is incomplete")
    try:
        # approximate backends search their own copy: keep ours on disk until needed
        vectors = np.load(path, mmap_mode="r" if memory_map else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path}: unreadable or truncated .npy file ({exc})") from exc
    if vectors.dtype != np.float32 or vectors.shape != (count, dimension):
        raise InputError(f"{path}: holds {vectors.dtype} {vectors.shape} but {META_FILE} "
                         f"says float32 ({count}, {dimension})")
    # refuses NaN / inf rows (an index of old); a memory map block by block, without keeping its pages
    for start, block in mapped_blocks(vectors):
        bad = np.flatnonzero(~np.isfinite(block).all(axis=1))
        if len(bad):
            what = "NaN" if np.isnan(block[bad[0]]).any() else "an infinite value"
            raise InputError(f"{path} row {start + int(bad[0])} has {what}; embeddings must be finite numbers")
    return vectors


def _read_items(path: Path, count: int) -> tuple[list, list]:
    if not path.is_file():
        raise InputError(f"{path}: missing; the index folder is incomplete")
    ids: list = []
    texts: list = []
    seen: set = set()
    for line_no, row in jsonl.rows(path):
        if not isinstance(row, dict) or "id" not in row:
            raise InputError(f"{path}, line {line_no}: expected an object with \"id\" and \"text\"")
        item, text = row["id"], row.get("text")
        if isinstance(item, bool) or not isinstance(item, (str, int)) or item in seen:
            raise InputError(f"{path}, line {line_no}: id {item!r} is duplicate or not a string/integer")
        if text is not None and not isinstance(text, str):
            raise InputError(f"{path}, line {line_no}: \"text\" must be a string or null")
        seen.add(item)
        ids.append(item)
        texts.append(text)
    if len(ids) != count:
        raise InputError(f"{path}: holds {len(ids)} rows but {META_FILE} says count={count}")
    return ids, texts


# --------------------------------------------------------------------------- the lexical part

def _synced(tmp: Path, names: tuple[str, ...]) -> list[str]:
    """Sync the files a library wrote into ``tmp`` (``names``, all required) and return their names."""
    missing = [name for name in names if not (tmp / name).is_file()]
    if missing:
        raise OSError(f"the lexical part did not write {', '.join(missing)}")
    for name in names:
        with open(tmp / name, "rb+") as f:
            os.fsync(f.fileno())
    return list(names)


def _check_lexical(folder: Path, meta: dict[str, Any], count: int) -> dict[str, Any] | None:
    """meta.json's "lexical" record, checked: all its files present (their bytes were checked with
    every other file's) and as many rows as the vectors."""
    lexical = meta.get("lexical")
    if lexical is None:
        return None
    where = folder / META_FILE
    if not isinstance(lexical, dict) or lexical.get("count") != count or \
            sorted(lexical.get("files") or []) != sorted(LEXICAL_FILES):
        raise InputError(f"{where}: field 'lexical' is {str(lexical)[:80]!r}; expected an object with \"count\": "
                         f"{count} (the index's rows) and \"files\": {list(LEXICAL_FILES)}")
    for name in LEXICAL_FILES:
        if not (folder / name).is_file():
            raise InputError(f"{folder / name}: missing; the index's lexical part needs it (rebuild with lexical=True)")
    return lexical


__all__ = ["ANN_FILE", "BACKENDS", "FORMAT", "FORMAT_VERSION", "INDEX_FILES", "ITEMS_FILE", "LEXICAL_FILES", "META_FILE",
           "REMOTE", "VECTORS_FILE", "IndexFolder", "check_save_path", "read", "save"]
