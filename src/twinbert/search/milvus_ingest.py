"""Fill a Milvus index from the output folder of a distributed encode (manifest.json + Parquet shards, see
twinbert.formats.shard_manifest), the way a corpus encoded by Ray on a cluster reaches a Milvus cluster.

Every shard is checked against the manifest before any is read (read_complete), then read and inserted one
at a time: memory stays at one shard. The run is resumable: into a collection that already holds some of
the rows (a run killed midway, a server restarted), only the ids it lacks are inserted, so running the same
command again completes the index with no row twice. Progress goes to stderr.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..formats.index_folder import check_save_path
from ..formats.shard_manifest import read_complete, read_shard
from ..progress import Progress
from ..similarity import check_metric
from .milvus import MilvusIndex, engine_lexical, milvus_config, new_record


def build_from_shards(source: str | os.PathLike, path: str | os.PathLike, *, metric: str = "cosine",
                      lexical: Any = False, lexical_threads: int = 1, overwrite: bool = False, force: bool = False,
                      token: str | None = None, show_progress: bool = True, **settings: Any) -> MilvusIndex:
    """Insert the rows of the encode output folder ``source`` into a Milvus collection and save the index
    folder ``path``; returns the index. settings: as MilvusIndex.build (uri, collection, index_type, its
    parameters, ...). The manifest's model is the index's (its fingerprint checked against the collection's:
    another model's collection is refused unless ``force``). lexical: index the shards' texts too (the
    encode must have kept them)."""
    metric = check_metric(metric)
    config = milvus_config(dict(settings))
    check_save_path(path, overwrite)  # before any work: the folder must be free, or overwrite given
    folder = Path(source)
    manifest = read_complete(folder, argument="input")
    if lexical and not manifest.get("text"):
        raise InputError(f"{folder}: its shards hold no texts (the encode ran without keeping them), so there is "
                         "nothing to index lexically; encode again keeping the texts, or leave lexical out",
                         argument="lexical")
    shards = manifest["shards"]
    if not any(entry["rows"] for entry in shards):
        raise InputError(f"{folder}: no rows to index", argument="input")
    first = read_shard(folder / next(e for e in shards if e["rows"])["file"], manifest["dimension"])[0][0]
    words = engine_lexical(lexical, config.engine_analyser, lexical_threads)
    record = new_record(manifest.get("model"), metric, manifest["dimension"], int(first), words)
    index = MilvusIndex.open(config, record, token=token, force=force, where="index build --input",
                             lexical_threads=lexical_threads)
    progress = Progress(manifest["rows"], f"index (milvus {config.collection})", enabled=show_progress)
    for entry in shards:
        ids, vectors, texts = read_shard(folder / entry["file"], manifest["dimension"], texts=True)
        if len(ids):
            _check_finite(vectors, folder / entry["file"])
            index._insert_missing(ids.tolist(), vectors, texts or [None] * len(ids), progress, close=False)
    progress.close()
    index.save(path, overwrite=overwrite)
    return index


def _check_finite(vectors: np.ndarray, path: Path) -> None:
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if len(bad):
        raise InputError(f"{path}: row {int(bad[0])} has NaN or an infinite value; embeddings must be finite numbers",
                         argument="input")


__all__ = ["build_from_shards"]
