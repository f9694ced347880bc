#!/usr/bin/env python
"""Scale benchmarks (issue 16), every comparison measured in the same run, alternating rounds, median.

(distributed) N STS-B sentences (the unique sentences of train+dev+test, repeated with a varied suffix up to
    N; default 50,000) in 7 uneven .txt shards: the local `encode_file` against `twinbert.distributed.encode_files`
    on a local Ray runtime with 1 actor x all CPUs and with 2 actors x 1 CPU; rows/s, the overhead, and the
    largest difference from the local vectors.
(ivfpq) N clustered synthetic unit vectors (as benchmarks/search.py: 1000 clusters, noise 1.0, 384-dim),
    written as .npy shards under --scratch, indexed with build_ivfpq shard by shard (peak RSS of the whole
    process), then recall@10 against the exact search over the memory-mapped vectors, single-query p50 / p99,
    bytes per vector in memory. The scratch files are deleted afterwards.
(compress) all-MiniLM-L6-v2 embeddings of the STS-B sentences: recall@10 of int8 and binary search with
    float re-scoring against exact float32 search, and bytes per vector.

    nice -n 10 python benchmarks/scale.py --part distributed --rows 50000
    nice -n 10 python benchmarks/scale.py --part ivfpq --vectors 1000000 --vectors 250000
    nice -n 10 python benchmarks/scale.py --part compress --json out.json

Not run by the tests. Needs the ray and faiss extras.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
STSB = REPO.parent / "shared" / "data" / "stsb"
SHARD_WEIGHTS = [3, 1, 5, 2, 8, 1, 4]  # 7 uneven shards


def machine() -> dict:
    import torch

    info = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "torch": torch.__version__, "numpy": np.__version__, "date": dt.datetime.now().isoformat(timespec="seconds"),
            "command": " ".join(sys.argv), "nice": os.nice(0)}
    for name in ("ray", "faiss", "pyarrow"):
        try:
            info[name] = __import__(name).__version__
        except ImportError:
            info[name] = None
    with open("/proc/cpuinfo") as f:
        lines = f.read().splitlines()
    info["cpu"] = next((x.split(":", 1)[1].strip() for x in lines if x.startswith("model name")), None)
    flags = next((x.split(":", 1)[1].split() for x in lines if x.startswith("flags")), [])
    info["cpu_flags"] = [f for f in flags if f.startswith(("avx", "fma", "amx", "sse4"))]
    info["load_average"] = os.getloadavg()
    return info


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stsb_sentences() -> list[str]:
    seen: dict[str, None] = {}
    for split in ("train", "dev", "test"):
        with open(STSB / f"sts-{split}.csv", encoding="utf-8") as f:
            for line in f:
                cols = line.rstrip("\n").split("\t")
                seen.setdefault(cols[5])
                seen.setdefault(cols[6])
    return list(seen)


def sentences(n: int) -> list[str]:
    """n sentences: the STS-B ones, then again with a varied ending (so no two texts are the same)."""
    base = stsb_sentences()
    return [base[k % len(base)] + ("" if k < len(base) else f" (take {k // len(base) + 1})") for k in range(n)]


# --------------------------------------------------------------------------- distributed

def bench_distributed(args) -> dict:
    import torch

    import twinbert
    from twinbert.distributed import encode_files
    from twinbert.distributed._ray import connect
    from twinbert.formats.shard_manifest import read_embeddings
    from twinbert.encode_file import encode_file

    texts = sentences(args.rows)
    work = Path(tempfile.mkdtemp(prefix="scale-dist-", dir=args.scratch))
    inputs = work / "in"
    inputs.mkdir()
    bounds = np.cumsum([0] + SHARD_WEIGHTS) * len(texts) // sum(SHARD_WEIGHTS)
    for k in range(7):
        (inputs / f"part{k}.txt").write_text("".join(t + "\n" for t in texts[bounds[k]:bounds[k + 1]]), encoding="utf-8")
    (work / "all.txt").write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    cpus = os.cpu_count()
    torch.set_num_threads(cpus)
    encoder = twinbert.load(args.model, device="cpu")
    connect(None, num_cpus=cpus)  # one node: a local runtime with this machine's CPUs
    runs = {"local": [], "ray_1_actor": [], "ray_2_actors": []}
    worst = 0.0
    for round_ in range(args.rounds):
        order = list(runs) if round_ % 2 == 0 else list(reversed(runs))
        for name in order:
            out = work / f"{name}-{round_}"
            start = time.perf_counter()
            if name == "local":
                encode_file(encoder, work / "all.txt", out.with_suffix(".npy"), show_progress=False)
            else:
                actors = 1 if name == "ray_1_actor" else 2
                encode_files(str(inputs / "*.txt"), out, args.model, actors=actors, num_cpus=cpus // actors,
                             show_progress=False, model_kwargs={"device": "cpu"})
            runs[name].append(time.perf_counter() - start)
            print(f"  round {round_} {name}: {runs[name][-1]:.1f} s", file=sys.stderr)
            if name != "local":
                local = np.load(work / "local-0.npy") if (work / "local-0.npy").exists() else None
                ids, vectors = read_embeddings(out)
                assert ids.tolist() == list(range(len(texts)))
                if local is not None:
                    worst = max(worst, float(np.abs(vectors - local).max()))
    shutil.rmtree(work)
    medians = {k: statistics.median(v) for k, v in runs.items()}
    return {"rows": len(texts), "shards": 7, "rounds": args.rounds, "model": args.model, "seconds": runs,
            "rows_per_second": {k: round(len(texts) / v, 1) for k, v in medians.items()},
            "ray_vs_local": {k: round(medians["local"] / v, 3) for k, v in medians.items() if k != "local"},
            "max_abs_difference_vs_local": worst}


# --------------------------------------------------------------------------- ivfpq

def synthetic(n: int, dim: int, seed: int, clusters: int = 1000, noise: float = 1.0) -> np.ndarray:
    centers = np.random.default_rng(12345).standard_normal((clusters, dim), dtype=np.float32)
    rng = np.random.default_rng(seed)
    block = centers[rng.integers(0, clusters, n)] + noise * rng.standard_normal((n, dim), dtype=np.float32)
    return block / np.linalg.norm(block, axis=1, keepdims=True)


def bench_ivfpq(args, n: int) -> dict:
    from twinbert.search.exact import mapped_search
    from twinbert.search.ivfpq_build import build_ivfpq

    work = Path(tempfile.mkdtemp(prefix="scale-ivfpq-", dir=args.scratch))
    shard_rows = 250_000
    files = []
    for k, start in enumerate(range(0, n, shard_rows)):
        files.append(work / f"{k:04d}.npy")
        np.save(files[-1], synthetic(min(shard_rows, n - start), args.dim, seed=1000 + k))
    queries = synthetic(args.queries, args.dim, seed=7)
    params = {"m": args.m, "rerank": args.rerank}
    if args.nlist:
        params["nlist"] = args.nlist
    start = time.perf_counter()
    index = build_ivfpq(files, work / "index", show_progress=False, model_name="synthetic", **params,
                        train_size=args.train_size)
    build_s = time.perf_counter() - start
    build_rss = peak_rss_mib()
    latencies = []
    found = []
    for q in queries:
        t = time.perf_counter()
        found.append([h["id"] for h in index.search(q[None, :], k=10)[0]])
        latencies.append(time.perf_counter() - t)
    truth = [[i for i, _ in row] for row in mapped_search(queries, index.vectors, top_k=10, metric="dot")]
    recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]))
    result = {"vectors": n, "dim": args.dim, "params": index.backend_params, "tuning": index.tuning,
              "build_seconds": round(build_s, 1), "peak_rss_mib_after_build": round(build_rss),
              "recall_at_10": round(recall, 4), "p50_ms": round(1000 * float(np.median(latencies)), 2),
              "p99_ms": round(1000 * float(np.percentile(latencies, 99)), 2),
              "bytes_per_vector_in_memory": index._ann.bytes_per_vector(),
              "float32_bytes_per_vector_on_disk": 4 * args.dim,
              "disk_bytes": sum(p.stat().st_size for p in (work / "index").iterdir())}
    del index
    shutil.rmtree(work)
    return result


# --------------------------------------------------------------------------- compress

def bench_compress(args) -> dict:
    import twinbert
    from twinbert.quantize import bytes_per_vector, calibration_ranges, quantize
    from twinbert.search import semantic_search
    from twinbert.search.compressed import compressed_search

    texts = stsb_sentences()
    encoder = twinbert.load(args.model, device="cpu")
    rng = np.random.default_rng(0)
    order = rng.permutation(len(texts))
    queries_at, corpus_at = order[:args.queries], order[args.queries:]
    start = time.perf_counter()
    vectors = encoder.encode(texts)
    encode_s = time.perf_counter() - start
    corpus, queries = vectors[corpus_at], vectors[queries_at]
    truth = [[i for i, _ in row] for row in semantic_search(queries, corpus, top_k=10, metric="dot")]
    ranges = calibration_ranges(corpus[rng.choice(len(corpus), min(5000, len(corpus)), replace=False)])
    result = {"model": args.model, "corpus": len(corpus), "queries": len(queries), "encode_seconds": round(encode_s, 1)}
    for dtype in ("int8", "binary"):
        codes = quantize(corpus, dtype, ranges)
        for rescore in (False, True):
            start = time.perf_counter()
            found = compressed_search(queries, codes, dtype, ranges=ranges, originals=corpus if rescore else None,
                                      metric="dot")
            seconds = time.perf_counter() - start
            recall = float(np.mean([len({i for i, _ in f} & set(t)) / 10 for f, t in zip(found, truth)]))
            result[f"{dtype}{'_rescored' if rescore else ''}"] = {
                "recall_at_10": round(recall, 4), "bytes_per_vector": bytes_per_vector(dtype, corpus.shape[1]),
                "compression": 4 * corpus.shape[1] // bytes_per_vector(dtype, corpus.shape[1]),
                "ms_per_query": round(1000 * seconds / len(queries), 2)}
    # the same codes as Index backends: rerank tuned for recall@10 0.95 on held-out corpus rows, then the
    # real queries measured one at a time
    from twinbert.search import Index

    for backend in ("int8", "binary"):
        start = time.perf_counter()
        index = Index.build(embeddings=corpus, backend=backend, metric="dot", recall_target=0.95)
        build_s = time.perf_counter() - start
        latencies, found = [], []
        for q in queries:
            t = time.perf_counter()
            found.append([h["id"] for h in index.search(q[None, :], k=10)[0]])
            latencies.append(time.perf_counter() - t)
        recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]))
        result[f"index_{backend}"] = {"rerank": index.backend_params["rerank"], "recall_at_10": round(recall, 4),
                                      "bytes_per_vector_in_memory": index._ann.bytes_per_vector(),
                                      "build_seconds": round(build_s, 2),
                                      "p50_ms": round(1000 * float(np.median(latencies)), 3)}
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", action="append", choices=["distributed", "ivfpq", "compress"])
    p.add_argument("--rows", type=int, default=50_000, help="distributed: sentences")
    p.add_argument("--rounds", type=int, default=3, help="distributed: alternating rounds (median)")
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    p.add_argument("--vectors", type=int, action="append", help="ivfpq: collection sizes (default 10M)")
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--m", type=int, default=48, help="ivfpq: PQ bytes per vector")
    p.add_argument("--nlist", type=int, default=None, help="ivfpq: cells (default ~4 sqrt(n))")
    p.add_argument("--train-size", type=int, default=None, help="ivfpq: training sample (default 64 per cell)")
    p.add_argument("--rerank", type=int, default=100, help="ivfpq: candidates re-scored per query")
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--scratch", default=str(REPO.parent / "scratch"))
    p.add_argument("--json", default=None, help="also write the results to this file")
    args = p.parse_args(argv)
    Path(args.scratch).mkdir(parents=True, exist_ok=True)
    results = {"machine": machine()}
    for part in args.part or ["distributed", "ivfpq", "compress"]:
        if part == "distributed":
            results["distributed"] = bench_distributed(args)
        elif part == "compress":
            results["compress"] = bench_compress(args)
        else:
            results["ivfpq"] = [bench_ivfpq(args, n) for n in (args.vectors or [10_000_000])]
        print(json.dumps({part: results[part]}, indent=2), flush=True)
    results["machine"]["peak_rss_mib"] = round(peak_rss_mib())
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
