#!/usr/bin/env python
"""The Index on Milvus against twinbert's own index (issue 28), on one machine.

(vectors) N clustered synthetic unit vectors (as benchmarks/search.py: 1000 clusters, noise 1.0, 384-dim):
    twinbert's HNSW and IVF-PQ against milvus-lite's HNSW and IVF_FLAT through twinbert's Milvus backend
    (embedded .db, the rows inserted and flushed, so the engine built its index). Per variant, in a fresh
    process: build seconds, resident memory with the input vectors, after the build (the input freed: what
    the index keeps) and at the peak, single-query p50 / p99,
    recall@10 against the exact top 10 (computed once, by the flat index).
(korquad) KorQuAD dev passages with --model: nDCG@10 of dense, lexical and hybrid search on the test
    questions, the fusion tuned on dev, by the local index and by a Milvus FLAT collection of the same vectors.

milvus-lite is not the cluster engine: a pure-Python rewrite in this process (its HNSW and IVF are FAISS's,
its BM25 Python, IDF per segment), one node, no query nodes or segments spread over machines. Its timings
say what this machine does through milvus-lite, not what a Milvus cluster serves; its recall and nDCG say
whether twinbert's backend gives the same answers.

    nice -n 10 python benchmarks/milvus.py --part vectors --count 1000000 --json out.json
    nice -n 10 python benchmarks/milvus.py --part korquad --cache /tmp/vectors

Not run by the tests. Needs the faiss, lexical and milvus extras.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
VARIANTS = {
    "twinbert-hnsw": {"backend": "hnsw", "M": 32, "ef_construction": 128},
    "twinbert-ivfpq": {"backend": "ivfpq"},
    "milvus-lite-hnsw": {"backend": "milvus", "index_type": "hnsw", "M": 32, "ef_construction": 128, "ef_search": 128},
    "milvus-lite-ivf": {"backend": "milvus", "index_type": "ivf", "nlist": 1024, "nprobe": 32},
}


def machine() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "date": dt.datetime.now().isoformat(timespec="seconds"), "command": " ".join(sys.argv),
            "load_average": os.getloadavg()}
    for name in ("faiss", "pymilvus", "milvus_lite", "numpy"):
        try:
            module = __import__(name)
            info[name] = getattr(module, "__version__", None)
        except ImportError:
            info[name] = None
    return info


def vectors(count: int, dimension: int, seed: int) -> np.ndarray:
    """Clustered unit vectors (1000 centres, noise 1.0), made in chunks to keep the peak at the result."""
    centers = np.random.default_rng(99).standard_normal((1000, dimension)).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((count, dimension), np.float32)
    for start in range(0, count, 100_000):
        n = min(100_000, count - start)
        x = centers[rng.integers(0, 1000, n)] + rng.standard_normal((n, dimension), dtype=np.float32)
        out[start:start + n] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def memory_mb() -> dict:
    """This process's resident memory now and at its peak (VmRSS, VmHWM), MB."""
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f if line.startswith(("VmRSS", "VmHWM")))
    return {k: round(int(v.split()[0]) / 1e3, 1) for k, v in fields.items()}


def run_variant(name: str, count: int, dimension: int, queries: np.ndarray, exact: list, scratch: str, out) -> None:
    """One variant in its own process (its own peak RSS): build, then single-query latency and recall@10."""
    from twinbert.search import Index

    data = vectors(count, dimension, seed=0)
    before = memory_mb()["VmRSS"]
    settings = dict(VARIANTS[name])
    if settings["backend"] == "milvus":
        settings.update(uri=str(Path(scratch) / f"{name}.db"), batch_rows=5000)
    start = time.perf_counter()
    index = Index.build(embeddings=data, model_name="synthetic", **settings)
    if settings["backend"] == "milvus":
        index.flush()  # the engine indexes sealed segments: the build is done once they are
    build_s = time.perf_counter() - start
    del data  # what stays is the index's (twinbert's copy, or milvus-lite's in this process)
    gc.collect()
    after = memory_mb()
    times, found = [], []
    for q in queries:
        start = time.perf_counter()
        hits = index.search(q[None, :], k=10)[0]
        times.append((time.perf_counter() - start) * 1000)
        found.append({h["id"] for h in hits})
    recall = float(np.mean([len(f & set(e)) / 10 for f, e in zip(found, exact)]))
    out.put({"variant": name, "build_s": round(build_s, 1), "rss_mb_with_vectors": before,
             "rss_mb_after_build": after["VmRSS"], "peak_rss_mb": after["VmHWM"],
             "vectors_mb": round(count * dimension * 4 / 1e6, 1),
             "query_ms": {p: round(float(np.percentile(times, int(p[1:]))), 2) for p in ("p50", "p99")},
             "recall@10": round(recall, 4), "params": VARIANTS[name]})


def part_vectors(count: int, dimension: int, query_count: int, scratch: Path) -> dict:
    from twinbert.search import Index

    queries = vectors(query_count, dimension, seed=1)
    flat = Index.build(embeddings=vectors(count, dimension, seed=0), model_name="synthetic")
    exact = [[h["id"] for h in row] for row in flat.search(queries, k=10)]
    del flat
    results = []
    context = multiprocessing.get_context("spawn")
    for name in VARIANTS:
        out = context.Queue()
        process = context.Process(target=run_variant, args=(name, count, dimension, queries, exact, str(scratch), out))
        process.start()
        results.append(out.get())
        process.join()
        print(json.dumps(results[-1]), file=sys.stderr)
    return {"count": count, "dimension": dimension, "queries": query_count, "variants": results}


def part_korquad(model: str, cache: Path | None, scratch: Path) -> dict:
    """nDCG@10 on KorQuAD test (fusion tuned on dev) through the local index and through Milvus."""
    from korean_search import _metrics, encode_cached

    import twinbert
    from twinbert.data import load_task
    from twinbert.search import Index

    splits = {s: load_task("korquad", s).retrieval for s in ("dev", "test")}
    corpus_ids = list(splits["dev"].corpus)
    documents = [splits["dev"].corpus[c] for c in corpus_ids]
    encoder = twinbert.load(model)
    corpus_vectors = encode_cached(encoder, documents, "passage", cache)
    queries = {}
    for split, data in splits.items():
        qids = list(data.queries)
        texts = [data.queries[q] for q in qids]
        queries[split] = (texts, [set(data.relevant[q]) for q in qids], encode_cached(encoder, texts, "query", cache))
    engines = {"local": {}, "milvus": {"backend": "milvus", "uri": str(scratch / "korquad.db"), "index_type": "flat"}}
    result = {"model": model}
    for engine, settings in engines.items():
        start = time.perf_counter()
        index = Index.build(texts=documents, embeddings=corpus_vectors, ids=corpus_ids, lexical=True, model_name=model,
                            **settings)
        rows = {"build_s": round(time.perf_counter() - start, 2)}
        texts, relevant, vectors_ = queries["test"]
        for mode in ("dense", "lexical", "hybrid"):
            rows[f"{mode}_default"] = _metrics(index, texts, relevant, mode, vectors_)
        dev_texts, dev_relevant, dev_vectors = queries["dev"]
        report = index.tune_fusion(dev_texts, [sorted(r) for r in dev_relevant], query_embeddings=dev_vectors)
        rows["tuned"] = {k: v for k, v in report.items() if k != "tried"}
        rows["hybrid_tuned"] = _metrics(index, texts, relevant, "hybrid", vectors_)
        result[engine] = rows
        print(json.dumps({engine: rows}), file=sys.stderr)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["vectors", "korquad", "all"], default="all")
    parser.add_argument("--count", type=int, default=1_000_000, help="vectors: rows indexed")
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200, help="vectors: single queries timed")
    parser.add_argument("--model", default="multilingual-e5-small", help="korquad: the encoder")
    parser.add_argument("--cache", type=Path, default=None, help="korquad: keep encoded vectors here")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    out = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="twinbert-milvus-") as scratch:
        if args.part in ("vectors", "all"):
            out["vectors"] = part_vectors(args.count, args.dimension, args.queries, Path(scratch))
        if args.part in ("korquad", "all"):
            out["korquad"] = part_korquad(args.model, args.cache, Path(scratch))
    out["machine_after"] = machine()
    text = json.dumps(out, indent=2, ensure_ascii=False)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
