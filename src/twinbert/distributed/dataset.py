"""encode_dataset: a Ray Dataset of texts -> a Ray Dataset of (id, embedding), on an actor pool; and
read_shards, the Dataset of (id, shard, text) rows of input files, read on the workers."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..checks import positive_int
from ._ray import cluster_cpus, node_cpus, require_ray
from .actor import EncodeActor
from .shards import Shard, read_rows

# rows per actor call, per CPU the actor reserves: each call sorts its rows by length and spreads token-budget
# batches over the actor's threads, so larger calls pad less and leave threads idle at fewer call ends, but
# leave one actor of a pool working alone at the end of the run (50,000 STS-B rows, local encode 116-127 s:
# 1 actor x 2 CPUs 157 s at 1,024 rows a call, 143 s at 4,096; 2 actors x 1 CPU 156 s at 1,024, 165 s at
# 4,096); capped, so that an actor of a large node still returns rows every few seconds
ROWS_PER_CPU = 2048
MAX_ROWS_PER_CALL = 32768


def encode_dataset(dataset, model: Any, column: str = "text", *, id_column: str = "id", actors: int | None = None,
                   num_cpus: float | None = None, num_gpus: float = 0, batch_size: int | None = None,
                   model_kwargs: dict | None = None, keep_columns: tuple[str, ...] = (), **encode_kwargs):
    """The rows of ``dataset`` (a ray.data.Dataset with ``column`` and ``id_column``) encoded on a pool of
    ``actors`` actors: a lazy ray.data.Dataset with ``id`` (from ``id_column``), ``embedding`` [dim] float32
    and the ``keep_columns``, in no fixed order (sort by ``id`` if you need one).

    model: a model name or folder, loaded once in each actor with ``twinbert.load(model, **model_kwargs)``
        (any device / precision / backend that load takes), or a SentenceEncoder, sent to each actor.
    actors: pool size; default: the cluster's CPUs // num_cpus (GPUs // num_gpus with GPUs).
    num_cpus / num_gpus: what each actor reserves; an actor runs num_cpus threads. Default num_cpus: 1 with
        GPUs; with actors, the cluster's CPUs // actors (at most a node's); else the CPUs of the smallest
        node: one actor and one copy of the model per node, the batching engine spreading its batches over
        the node's cores (on one 2-core node 0.87 of a local encode, two 1-CPU actors 0.76: RESULTS.md).
    batch_size: rows per actor call (default 2,048 per CPU of an actor, at most 32,768); encode_kwargs:
    encode()'s options (pooling, normalize, prompt_name ...).
    The vectors are the ones a local encode gives (the same modules and batching engine), within 1e-6.
    """
    ray = require_ray()
    if num_cpus is None:
        if num_gpus:
            num_cpus = 1
        elif actors is None:
            num_cpus = node_cpus(ray)
        else:
            num_cpus = max(1, min(node_cpus(ray), cluster_cpus(ray) // positive_int(actors, "actors")))
    batch_size = positive_int(batch_size, "batch_size") if batch_size is not None else \
        min(ROWS_PER_CPU * max(1, int(num_cpus)), MAX_ROWS_PER_CALL)
    model_kwargs = dict(model_kwargs or {})
    if num_gpus and not model_kwargs.get("device"):
        model_kwargs["device"] = "cuda"
    if actors is None:
        if num_gpus:
            actors = max(1, int(ray.cluster_resources().get("GPU", 1) // num_gpus))
        else:
            actors = max(1, int(cluster_cpus(ray) // max(num_cpus, 1)))
    positive_int(actors, "actors")
    threads = max(1, int(num_cpus))
    return dataset.map_batches(
        EncodeActor, batch_size=batch_size, batch_format="numpy", num_cpus=num_cpus, num_gpus=num_gpus,
        compute=ray.data.ActorPoolStrategy(size=actors),
        fn_constructor_args=(model, model_kwargs, encode_kwargs, column, id_column, tuple(keep_columns), threads))


def read_shards(shards: list[Shard]):
    """A lazy Dataset of the rows of ``shards`` (see twinbert.distributed.shards.plan): ``id`` (global row
    number), ``shard`` (the file's position) and ``text``, read by the workers, one file per block."""
    ray = require_ray()
    descriptors = [{"shard": s.index, "path": s.path, "first_id": s.first_id, "rows": s.rows, "column": s.column or ""}
                   for s in shards]

    def read(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ids, owners, texts = [], [], []
        for shard, path, first, rows, column in zip(batch["shard"], batch["path"], batch["first_id"], batch["rows"],
                                                    batch["column"]):
            values = read_rows(str(path), str(column) or None)
            if len(values) != rows:  # the file changed since it was counted
                raise RuntimeError(f"{path}: holds {len(values)} rows now, {rows} when the run was planned")
            ids.append(np.arange(first, first + rows, dtype=np.int64))
            owners.append(np.full(rows, shard, dtype=np.int64))
            texts.append(np.array(values, dtype=object))
        return {"id": np.concatenate(ids), "shard": np.concatenate(owners), "text": np.concatenate(texts)}

    # one file per read task; reading is I/O: it must not wait for CPUs the actor pool holds
    return ray.data.from_items(descriptors, override_num_blocks=max(1, len(descriptors))).map_batches(
        read, batch_size=1, batch_format="numpy", num_cpus=0)
