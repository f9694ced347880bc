"""Encoding on a Ray cluster: Ray Data feeds an actor pool, each actor loads the model once and runs the
one batching engine (SentenceEncoder.run) on its blocks; the driver writes Parquet shards and a manifest.

- :func:`encode_dataset`: a Ray Dataset with ``id`` and a text column in, the same Dataset of ``id`` and
  ``embedding`` out (lazy, like every Ray Dataset).
- :func:`encode_files`: txt / CSV / TSV / JSONL / Parquet shards in (a glob), a folder of Parquet shards
  (``id``, ``embedding`` list<float32>, ``text`` optional) and ``manifest.json`` out, resumable after a crash.

Ray is the optional extra ``twinbert[ray]``; nothing here imports it until it is used.
"""
from __future__ import annotations

from .dataset import encode_dataset, read_shards
from .job import encode_files

__all__ = ["encode_dataset", "encode_files", "read_shards"]
