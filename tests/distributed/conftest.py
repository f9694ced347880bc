"""One Ray cluster for the distributed tests: two nodes on 127.0.0.1 (a head and a worker node, one CPU
each, started with Ray's own cluster utilities), shared by the whole session; this process is its driver."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray")

# 7 uneven shards in every input format: (file name, rows); an empty file among them
SHARDS = [("a.txt", 23), ("b.csv", 3), ("c.jsonl", 41), ("d.tsv", 1), ("e.parquet", 17), ("f.txt", 0), ("g.jsonl", 9)]
WORDS = ["the", "a", "cat", "dog", "sat", "on", "mat", "is", "happy", "i", "love", "paris", "man", "ran", "park"]


def sentence(k: int) -> str:
    rng = np.random.default_rng(k)
    return " ".join(rng.choice(WORDS, size=int(rng.integers(1, 30))))


def write_shards(folder: Path, sizes=SHARDS) -> list[str]:
    """The input files; returns every text in global id order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    texts: list[str] = []
    for name, rows in sizes:
        mine = [sentence(len(texts) + k) for k in range(rows)]
        path = folder / name
        if name.endswith(".txt"):
            path.write_text("".join(t + "\n" for t in mine), encoding="utf-8")
        elif name.endswith(".csv"):
            path.write_text("id,text\n" + "".join(f'{k},"{t}"\n' for k, t in enumerate(mine)), encoding="utf-8")
        elif name.endswith(".tsv"):
            path.write_text("text\tn\n" + "".join(f"{t}\t{k}\n" for k, t in enumerate(mine)), encoding="utf-8")
        elif name.endswith(".jsonl"):
            path.write_text("".join(json.dumps({"text": t}) + "\n" for t in mine), encoding="utf-8")
        else:
            pq.write_table(pa.table({"text": mine, "n": list(range(rows))}), path)
        texts.extend(mine)
    return texts


@pytest.fixture(scope="session")
def cluster():
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    nodes.add_node(num_cpus=1)
    nodes.wait_for_nodes()
    ray.init(address=nodes.address, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield nodes
    ray.shutdown()
    nodes.shutdown()


def raylet_pids(nodes) -> set[int]:
    return {node.all_processes["raylet"][0].process.pid for node in nodes.list_all_nodes()}


def encode_workers(nodes) -> list[int]:
    """PIDs of the encode actors' processes: children of this cluster's raylets named ray::MapWorker."""
    parents, found = raylet_pids(nodes), []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if cmdline.startswith(b"ray::MapWorker") and ppid in parents:
            found.append(int(proc.name))
    return found
