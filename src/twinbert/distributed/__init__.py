"""Encoding on a Ray cluster: Ray Data feeds an actor pool, each actor loads the model once and runs the
one batching engine (SentenceEncoder.run) on its blocks; the driver writes Parquet shards and a manifest
(twinbert.formats.shard_manifest).

- :func:`encode_dataset`: a Ray Dataset with ``id`` and a text column in, the same Dataset of ``id`` and
  ``embedding`` out (lazy, like every Ray Dataset).
- :func:`encode_files`: txt / CSV / TSV / JSONL / Parquet shards in (a glob), a folder of Parquet shards
  (``id``, ``embedding`` list<float32>, ``text`` optional) and ``manifest.json`` out, resumable after a crash.

Ray is the optional extra ``twinbert[ray]``; nothing here imports it until it is used. The names are
imported on first use: Ray's workers import this package to run the actor and the read tasks, and need
neither the driver's job nor what it imports.
"""
from __future__ import annotations

_LAZY = {"encode_dataset": "dataset", "read_shards": "dataset", "encode_files": "job"}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'twinbert.distributed' has no attribute {name!r}")


__all__ = ["encode_dataset", "encode_files", "read_shards"]
