#!/usr/bin/env python
"""Cross-encoder vs bi-encoder on STS-B test: Spearman and pairs/s of each.

The bi-encoder is all-MiniLM-L6-v2 as it is (cosine of the two sentence embeddings, each unique
sentence encoded once). The cross-encoder is trained here from the SAME model's backbone (new one-score
head, [CLS] a [SEP] b [SEP], sigmoid, BCE on gold scores / 5) on STS-B train for --epochs (default 1),
batch 16, lr --lr, with twinbert's training loop; then it scores every test pair.
Pass --model DIR to evaluate an already trained cross-encoder instead of training one.

    python benchmarks/cross_encoder.py [--epochs 1] [--lr 5e-5] [--limit N] [--output DIR] [--json]

Not run by the tests. CPU: about 5 minutes for one epoch (360 steps) on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def bi_encoder(test) -> dict:
    import twinbert
    from twinbert.evaluate.sts import spearman

    encoder = twinbert.load("all-MiniLM-L6-v2", device="cpu")
    a = [e.sentence1 for e in test.examples]
    b = [e.sentence2 for e in test.examples]
    start = time.perf_counter()
    unique = sorted(set(a) | set(b))
    vectors = encoder.encode(unique, normalize=True)
    row = {t: i for i, t in enumerate(unique)}
    scores = (vectors[[row[t] for t in a]] * vectors[[row[t] for t in b]]).sum(axis=1)
    seconds = time.perf_counter() - start
    return {"spearman": spearman(scores, [e.score for e in test.examples]), "seconds": seconds,
            "pairs_per_s": len(a) / seconds}


def cross_encoder(folder, test) -> dict:
    from twinbert.bert import CrossEncoder
    from twinbert.evaluate.sts import spearman

    model = CrossEncoder.load(folder, device="cpu")
    a = [e.sentence1 for e in test.examples]
    b = [e.sentence2 for e in test.examples]
    start = time.perf_counter()
    scores = model.predict(a, b)
    seconds = time.perf_counter() - start
    return {"spearman": spearman(scores, [e.score for e in test.examples]), "seconds": seconds,
            "pairs_per_s": len(a) / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a trained cross-encoder folder (default: train one now)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--limit", type=int, help="first N training pairs only")
    parser.add_argument("--output", help="where the trained cross-encoder goes (default: a temp folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers

    from twinbert.bert import train_cross_encoder
    from twinbert.data import load_task
    from twinbert.train.loop import TrainConfig

    transformers.logging.set_verbosity_error()
    test = load_task("stsb", "test", root=DATA)
    trained = None
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.model
        if folder is None:
            train = load_task("stsb", "train", root=DATA)
            if args.limit:
                train.examples = train.examples[:args.limit]
            folder = args.output or str(Path(tmp) / "cross-encoder")
            config = TrainConfig(epochs=args.epochs, batch_size=16, lr=args.lr, seed=42)
            result = train_cross_encoder("all-MiniLM-L6-v2", train, config, folder, device="cpu")
            trained = {"rows": len(train), "steps": result.steps, "epochs": result.epochs_done,
                       "seconds": result.seconds, "lr": args.lr, "batch_size": 16}
        rows = {"bi-encoder (all-MiniLM-L6-v2, cosine)": bi_encoder(test),
                "cross-encoder (MiniLM backbone + new head)": cross_encoder(folder, test)}
    doc = {"test_pairs": len(test), "trained": trained, "results": rows, "threads": torch.get_num_threads(),
           "machine": platform.processor() or platform.machine(), "load_average": os.getloadavg(),
           "torch": torch.__version__}
    if args.json:
        print(json.dumps(doc, indent=2))
        return
    if trained:
        print(f"cross-encoder trained on STS-B train: {trained['rows']} pairs, {trained['steps']} steps "
              f"({trained['epochs']} epochs), batch 16, lr {args.lr:g}, {trained['seconds']:.0f} s")
    print(f"STS-B test, {len(test)} pairs, CPU ({torch.get_num_threads()} threads)\n")
    print("| model | Spearman x 100 | pairs/s | seconds |\n|---|---:|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {100 * r['spearman']:.2f} | {r['pairs_per_s']:.0f} | {r['seconds']:.1f} |")
    print(f"\nload average {np.round(os.getloadavg(), 2).tolist()}")


if __name__ == "__main__":
    main()
