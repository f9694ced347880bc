"""Build an ivfpq index from embedding shards without holding them all: the output folder of a distributed
encode (manifest.json + Parquet shards, see twinbert.formats.shard_manifest) or .npy files.

Memory stays at one shard plus the training sample plus the PQ codes: the quantizer is trained on a random
sample of rows (``train_size``, read shard by shard), then each shard is read once, written into
vectors.npy through a memory map (the float originals that searches re-score from) and added to the
inverted lists. The folder is the Index's (twinbert.formats.index_folder), written under a temporary name
and renamed into place when complete.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, OutputError
from ..formats.atomic import atomic_folder
from ..formats.index_folder import (
    ANN_FILE,
    ITEMS_FILE,
    META_FILE,
    VECTORS_FILE,
    IndexFolder,
    check_save_path,
    write_meta,
)
from ..formats.mapped import drop_pages
from ..formats.shard_manifest import read_complete, read_shard
from ..progress import Progress
from ..similarity import check_metric
from .ivfpq import IvfPqBackend, check_params, fill_params
from .ivfpq import tune_ann as tune_search_knob
from .tuning import DEFAULT_RECALL, check_recall


@dataclass
class EmbeddingShards:
    files: list[Path]
    rows: list[int]
    dimension: int
    model: dict[str, Any] | None   # the manifest's model record (name, settings, fingerprint), if any

    def read(self, k: int) -> tuple[np.ndarray, np.ndarray | None, list | None]:
        """(vectors float32 [rows, dim], ids or None, texts or None) of shard k."""
        path = self.files[k]
        if path.suffix == ".npy":
            return np.asarray(np.load(path, mmap_mode="r"), np.float32), None, None
        ids, vectors, texts = read_shard(path, self.dimension, texts=True)
        return vectors, ids, texts


def embedding_shards(source: str | os.PathLike | list) -> EmbeddingShards:
    """The shards of a distributed encode's folder (complete runs only), or of .npy files."""
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        folder = Path(source)
        manifest = read_complete(folder, argument="input")  # every shard there, with its recorded sha256
        return EmbeddingShards([folder / s["file"] for s in manifest["shards"]], [s["rows"] for s in manifest["shards"]],
                               int(manifest["dimension"]), manifest.get("model"))
    paths = [Path(p) for p in ([source] if isinstance(source, (str, os.PathLike)) else source)]
    shapes = []
    for path in paths:
        try:
            shapes.append(np.load(path, mmap_mode="r").shape)
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a readable .npy file ({exc})", argument="input") from exc
    if not shapes or any(len(s) != 2 or s[1] != shapes[0][1] for s in shapes):
        raise InputError(f"{source}: expected .npy files of [rows, dim] vectors with one dim", argument="input")
    return EmbeddingShards(paths, [s[0] for s in shapes], int(shapes[0][1]), None)


def build_ivfpq(source, path: str | os.PathLike, *, metric: str = "cosine", recall_target: float | None = DEFAULT_RECALL,
                overwrite: bool = False, show_progress: bool = True, model_name: str | None = None,
                **backend_params: Any):
    """Build an ivfpq index at ``path`` from embedding shards (see :func:`embedding_shards`); returns the
    loaded twinbert.search.Index. backend_params: see twinbert.search.ivfpq (nlist, m, nbits, opq, rerank,
    train_size, nprobe); nprobe is tuned for ``recall_target`` (recall@10 after re-scoring) unless given."""
    from .index import Index

    metric = check_metric(metric)
    params = check_params(backend_params)
    tune = recall_target is not None and backend_params.get("nprobe") is None
    if tune:
        check_recall(recall_target)
    shards = embedding_shards(source)
    count = sum(shards.rows)
    if count == 0:
        raise InputError(f"{source}: no rows to index", argument="input")
    target = check_save_path(path, overwrite)
    if target.is_dir() and any(p.name not in (META_FILE, VECTORS_FILE, ITEMS_FILE, ANN_FILE) for p in target.iterdir()):
        raise OutputError(f"{target}: holds files other than an index's; build into a new or empty folder",
                          argument="overwrite")
    params = fill_params(params, count, shards.dimension)
    model = shards.model or ({"name": model_name, "settings": {}} if model_name else None)
    with atomic_folder(target, "index") as tmp:
        # the file at its full size (sparse), then written with plain writes: a writable memory map would
        # count every written page in this process's RSS until the end
        header = np.lib.format.open_memmap(tmp / VECTORS_FILE, mode="w+", dtype=np.float32,
                                           shape=(count, shards.dimension))
        offset = header.offset
        del header
        vectors = np.load(tmp / VECTORS_FILE, mmap_mode="r")  # read back by re-scoring, row by row
        sample = _training_sample(shards, params["train_size"], metric)
        ann = IvfPqBackend.train(metric, params, sample, vectors)
        del sample
        ids, texts = _add_shards(shards, ann, tmp / VECTORS_FILE, offset, metric, tmp / ITEMS_FILE, show_progress)
        report = tune_search_knob(ann, vectors, metric, recall_target) if tune else None
        drop_pages(vectors)  # the candidates the tuning re-scored
        ann.write(tmp / ANN_FILE)
        folder = IndexFolder(vectors, ids, texts, metric=metric, backend="ivfpq", backend_params=dict(ann.params),
                             model=model, tuning=report)
        with open(tmp / ANN_FILE, "rb+") as fh:
            os.fsync(fh.fileno())
        write_meta(folder, tmp)  # with every file's sha256, which Index.load checks
        del vectors, ann
    return Index.load(target)


def _prepared(vectors: np.ndarray, metric: str) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if metric == "cosine":
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms > 0, norms, 1)
    if not np.isfinite(vectors).all():
        bad = int(np.flatnonzero(~np.isfinite(vectors).all(axis=1))[0])
        raise InputError(f"embeddings row {bad} of a shard has NaN or an infinite value", argument="input")
    return vectors


def _training_sample(shards: EmbeddingShards, size: int, metric: str) -> np.ndarray:
    """``size`` random rows of all shards (positions drawn once, read shard by shard)."""
    count = sum(shards.rows)
    picked = np.sort(np.random.default_rng(0).choice(count, size=min(size, count), replace=False))
    parts, start = [], 0
    for k, rows in enumerate(shards.rows):
        mine = picked[(picked >= start) & (picked < start + rows)] - start
        if len(mine):
            parts.append(_prepared(shards.read(k)[0][mine], metric))
        start += rows
    return np.concatenate(parts)


def _add_shards(shards: EmbeddingShards, ann: IvfPqBackend, vectors_file: Path, offset: int, metric: str,
                items: Path, show_progress: bool) -> tuple[list, list]:
    """Each shard once: into vectors.npy, into the inverted lists, its ids and texts into items.jsonl."""
    progress = Progress(sum(shards.rows), "index (ivfpq)", enabled=show_progress)
    ids: list = []
    texts: list = []
    seen: set = set()
    start = 0
    with open(items, "w", encoding="utf-8") as fh, open(vectors_file, "r+b") as out:
        out.seek(offset)
        for k, rows in enumerate(shards.rows):
            block, own_ids, own_texts = shards.read(k)
            block = _prepared(block, metric)
            mine = list(range(start, start + rows)) if own_ids is None else own_ids.tolist()
            for row_id, text in zip(mine, own_texts or [None] * rows):
                if row_id in seen:
                    raise InputError(f"{shards.files[k]}: id {row_id} appears twice among the shards", argument="input")
                seen.add(row_id)
                fh.write(json.dumps({"id": row_id, "text": text}, ensure_ascii=False) + "\n")
            out.write(block.tobytes())
            ann.add(block, np.arange(start, start + rows))
            ids.extend(mine)
            texts.extend(own_texts or [None] * rows)
            start += rows
            progress.update(rows)
        for written in (fh, out):
            written.flush()
            os.fsync(written.fileno())
    if show_progress:
        progress.close()
    return ids, texts

