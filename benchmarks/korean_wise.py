"""Korean dense passage retrieval (KorQuAD 1.0 dev as retrieval) and KorSTS for ko-twinbert-small,
multilingual-e5-small and weight interpolations between the fine-tuned model and its trimmed base
(WiSE-FT, Wortsman et al. 2022: theta = a * theta_ft + (1 - a) * theta_base).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/korean_wise.py --models multilingual-e5-small ko-twinbert-small
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/korean_wise.py --alphas 0.5 0.6 0.7 --finetuned ko-twinbert-small

KorQuAD: corpus = the 964 paragraphs, each question's relevant passage its own; dev = questions of the
articles at even positions in the file, test = odd (twinbert.data.korquad). Queries and passages get the
prompts the model declares ("query: ", "passage: "). The corpus and all questions are encoded once per
model, and dev / test scored from the same vectors. nDCG@10; KorSTS: Spearman of the cosine.
Interpolation: the trimmed base is e5-small's rows for the fine-tuned model's vocabulary (the same pieces,
the same order as `twinbert trim-vocab` / the recipe's base stage), so every tensor pairs up.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

import twinbert
from twinbert.data.korquad import read_korquad
from twinbert.evaluate.retrieval import encode_roles, retrieval_metrics
from twinbert.evaluate.run import run_eval

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
KORQUAD = DATA / "korquad" / "KorQuAD_v1.0_dev.json"


def korquad_scores(encoder) -> dict:
    """nDCG@10 / MRR@10 / Recall@100 of dev and test questions, one encoding of corpus and queries."""
    collection = read_korquad(KORQUAD, level="passage").examples[0]
    qids, cids = list(collection.queries), list(collection.corpus)
    q, c = encode_roles(encoder, [collection.queries[i] for i in qids], [collection.corpus[i] for i in cids],
                        {"show_progress": False})
    scores = torch.from_numpy(q) @ torch.from_numpy(c).T
    top = torch.topk(scores, 100, dim=1).indices.tolist()
    out = {}
    for part in ("dev", "test"):
        keep = set(read_korquad(KORQUAD, level="passage", part=part).examples[0].queries)
        rows = [i for i, qid in enumerate(qids) if qid in keep]
        metrics = retrieval_metrics([[cids[j] for j in top[i]] for i in rows],
                                    [set(collection.relevant[qids[i]]) for i in rows],
                                    accuracy_at_k=(1,), precision_recall_at_k=(1, 10, 100), mrr_at_k=(10,),
                                    ndcg_at_k=(10,), map_at_k=(100,))
        out[f"korquad:{part}"] = {k: round(v, 4) for k, v in metrics.items()
                                  if k in ("ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100")}
    return out


def korsts(encoder, split: str) -> float:
    return round(run_eval(encoder, "korsts", split, data_root=DATA)["metrics"]["spearman_cosine"], 4)


def trimmed_base(finetuned, base_name: str = "multilingual-e5-small"):
    """`base_name` with the fine-tuned model's vocabulary: its embedding rows gathered by piece."""
    base = twinbert.load(base_name, device="cpu", backend="torch")
    vocab = base.tokenizer.get_vocab()
    pieces = finetuned.tokenizer.convert_ids_to_tokens(list(range(len(finetuned.tokenizer))))
    missing = [p for p in pieces if p not in vocab]
    if missing:
        raise SystemExit(f"{len(missing)} pieces of the fine-tuned vocabulary are not in {base_name}: {missing[:5]}")
    rows = torch.tensor([vocab[p] for p in pieces])
    state = base.transformer.model.state_dict()
    key = next(k for k in state if k.endswith("word_embeddings.weight"))
    state[key] = state[key][rows].clone()
    return state


def interpolate(finetuned_name: str, base_state: dict, alpha: float):
    encoder = twinbert.load(finetuned_name, device="cpu", backend="torch")
    ft = encoder.transformer.model.state_dict()
    mixed = {k: alpha * v.float() + (1 - alpha) * base_state[k].float() if v.is_floating_point() else v
             for k, v in ft.items()}
    encoder.transformer.model.load_state_dict(mixed)
    return encoder


def measure(name: str, encoder, max_seq_length: int, splits) -> dict:
    encoder.max_seq_length = max_seq_length
    started = time.perf_counter()
    row = {"model": name, "max_seq_length": encoder.max_seq_length, "prompts": encoder.prompts}
    row.update(korquad_scores(encoder))
    for split in splits:
        row[f"korsts:{split}"] = korsts(encoder, split)
    row["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(row, ensure_ascii=False), flush=True)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="*", default=[])
    p.add_argument("--finetuned", default="ko-twinbert-small")
    p.add_argument("--alphas", nargs="*", type=float, default=[])
    p.add_argument("--max-seq-length", type=int, default=512)
    p.add_argument("--korsts", nargs="*", default=["dev", "test"])
    p.add_argument("--save", help="write the interpolation of the single --alphas value here")
    args = p.parse_args()
    print(json.dumps({"machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                      "date": time.strftime("%Y-%m-%d")}))
    for name in args.models:
        measure(name, twinbert.load(name, device="cpu", backend="torch"), args.max_seq_length, args.korsts)
    if args.alphas:
        base_state = trimmed_base(twinbert.load(args.finetuned, device="cpu", backend="torch"))
        for alpha in args.alphas:
            encoder = interpolate(args.finetuned, base_state, alpha)
            measure(f"{args.finetuned} a={alpha}", encoder, args.max_seq_length, args.korsts)
            if args.save:
                encoder.save(args.save)


if __name__ == "__main__":
    main()
