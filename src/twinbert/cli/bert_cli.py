"""twinbert features / fill-mask / nsp: the classic BERT toolbox (see twinbert.bert)."""
from __future__ import annotations

import numpy as np

from . import common


def register(sub) -> None:
    p = sub.add_parser("features", help="tokens, ids, masks, [CLS], pooler_output and hidden states of every layer")
    common.add_model(p)
    p.add_argument("texts", nargs="+", help="one or more texts")
    p.add_argument("--pair", action="append", default=None, metavar="TEXT",
                   help="second text of a pair, once per text, in order ([CLS] text [SEP] pair [SEP])")
    p.add_argument("--layers", default="all",
                   help="all (default), last, or hidden-state indices joined by commas (0 = embeddings, -1 = last)")
    p.add_argument("--pad-to", type=common.positive_int, default=None, metavar="N",
                   help="pad every text to N tokens (default: the longest text)")
    p.add_argument("--save", default=None, metavar="FILE.npz", help="write every array to a .npz file")
    common.add_json(p)
    p.set_defaults(run=run_features)

    p = sub.add_parser("fill-mask", help="most likely tokens for every mask token (masked-LM head)")
    common.add_model(p, positional=True)
    p.add_argument("texts", nargs="+", help="texts with one or more mask tokens, e.g. [MASK]")
    p.add_argument("--top-k", type=int, default=5, help="predictions per mask (default: 5)")
    common.add_json(p)
    p.set_defaults(run=run_fill_mask)

    p = sub.add_parser("nsp", help="probability that the second text follows the first (next-sentence head)")
    common.add_model(p, positional=True)
    p.add_argument("first", help="first text")
    p.add_argument("second", help="second text")
    common.add_json(p)
    p.set_defaults(run=run_nsp)


def _load_kwargs(args) -> dict:
    common.check_device(args.device)
    return {"device": args.device, "precision": args.precision, "trust_remote_code": args.trust_remote_code}


def _vector(v: np.ndarray, shown: int = 4) -> str:
    head = ", ".join(f"{x:.4f}" for x in v[:shown])
    return f"[{head}{', ...' if len(v) > shown else ''}]  ({len(v)} dims, norm {np.linalg.norm(v):.4f})"


def _token_rows(f, i: int) -> str:
    rows = [["tokens"] + f.tokens[i], ["input_ids"] + f.input_ids[i].tolist(),
            ["attention_mask"] + f.attention_mask[i].tolist(), ["token_type_ids"] + f.token_type_ids[i].tolist()]
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(common.width(r[k]) for r in cells) for k in range(len(cells[0]))]
    return "\n".join("  " + "  ".join(c + " " * (w - common.width(c)) for c, w in zip(r, widths)).rstrip()
                     for r in cells)


def features_text(f) -> str:
    n, _, width, hidden = f.hidden_states.shape
    lines = [f"model  {f.model}"]
    for i, text in enumerate(f.texts):
        pair = f"  +  {f.pairs[i]!r}" if f.pairs is not None else ""
        lines += ["", f"text {i}: {text!r}{pair}", _token_rows(f, i),
                  f"  [CLS] (last layer)  {_vector(f.cls[i])}",
                  "  pooler_output       " + ("none: the model has no trained pooler" if f.pooler_output is None
                                             else _vector(f.pooler_output[i]))]
    real = f.attention_mask.astype(bool)
    rows = []
    for k, layer in enumerate(f.layers):
        norms = np.linalg.norm(f.hidden_states[:, k], axis=-1)  # [n, width]
        rows.append([layer, "embeddings" if layer == 0 else f"layer {layer}", f"{n} x {width} x {hidden}",
                     f"{norms[:, 0].mean():.4f}", f"{norms[real].mean():.4f}"])
    lines += ["", "hidden states (index 0 = embeddings; shape = texts x tokens x hidden)",
              common.table(rows, ["index", "output of", "shape", "[CLS] norm", "mean token norm"])]
    return "\n".join(lines)


def run_features(args) -> int:
    from ..bert import features
    from ..bert.features import check_save_path

    if args.save:
        check_save_path(args.save)  # fail before the model loads
    encoder = common.load_model(args)
    f = features(encoder, args.texts, args.pair, layers=args.layers, pad_to=args.pad_to)
    text = features_text(f)
    if args.save:
        f.save(args.save)
        text += f"\nsaved {args.save}"
    common.emit(f.to_dict(), args.json, text)
    return 0


def fill_mask_text(text: str, masks: list[list[dict]]) -> str:
    lines = [text]
    for m, entries in enumerate(masks, 1):
        rows = [[r, e["token"], f"{e['score']:.4f}", e["sequence"]] for r, e in enumerate(entries, 1)]
        lines += [f"mask {m} of {len(masks)}", common.table(rows, ["rank", "token", "score", "sequence"])]
    return "\n".join(lines)


def run_fill_mask(args) -> int:
    from ..bert import fill_mask, load_masked_lm

    model = load_masked_lm(args.model, **_load_kwargs(args))
    results = fill_mask(model, args.texts, top_k=args.top_k)
    text = "\n\n".join(fill_mask_text(t, r) for t, r in zip(args.texts, results))
    # one text: a list per mask of predictions; several: one {"text", "masks"} object per text
    doc = results[0] if len(args.texts) == 1 else [{"text": t, "masks": r} for t, r in zip(args.texts, results)]
    common.emit(doc, args.json, text)
    return 0


def run_nsp(args) -> int:
    from ..bert import load_next_sentence, next_sentence

    model = load_next_sentence(args.model, **_load_kwargs(args))
    result = next_sentence(model, args.first, args.second)
    common.emit(result, args.json, "\n".join(f"{k:9} {v:.4f}" for k, v in result.items()))
    return 0
