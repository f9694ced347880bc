"""twinbert eval / twinbert sweep: a model on a benchmark task or your own file -> metrics table,
JSON result document, plots. The work is twinbert.evaluate.run_eval / run_sweep."""
from __future__ import annotations

from . import common

TASK_HELP = ("stsb, korsts, sick, klue-sts (STS); mrpc, rte (binary pair classification); snli, mnli, kornli, "
             "klue-nli, sick-nli (triplet accuracy); cranfield, korquad, korquad-docs (retrieval); or, with --data FILE: sts, pairs, "
             "triplets, nli")


def _add_data(p) -> None:
    p.add_argument("--task", "-t", required=True, help=TASK_HELP)
    p.add_argument("--split", default=None,
                   help="split of a registered task (default: test, else dev, else trial/valid)")
    p.add_argument("--data", default=None, metavar="FILE",
                   help="your own .csv/.tsv/.jsonl file (tasks sts, pairs, triplets, nli), or a file in the "
                        "format of a registered task")
    p.add_argument("--columns", default=None,
                   help="columns of --data, names from the header or 0-based indexes joined by commas: "
                        "sts: sentence1,sentence2,score; pairs: sentence1,sentence2,label (0/1); triplets: "
                        "anchor,positive,negative; nli: premise,hypothesis,label")
    p.add_argument("--score-range", default=None, metavar="LOW,HIGH",
                   help="declared score range of an sts file (default 0,5); a score outside it is an error")
    p.add_argument("--data-root", default=None, metavar="DIR",
                   help="folder holding the benchmark data (default: $TWINBERT_DATA, else ../shared/data)")
    p.add_argument("--skip-bad-rows", action="store_true",
                   help="leave out rows that cannot be read (counted in the result) instead of stopping")
    p.add_argument("--limit", type=common.positive_int, default=None, metavar="N",
                   help="evaluate the first N examples only (retrieval: the first N queries)")


def _add_output(p, plot_help: str) -> None:
    p.add_argument("--output", "-o", default=None, metavar="FILE.json", help="write the result document here")
    p.add_argument("--plot", default=None, metavar="FILE.png|DIR", help=plot_help)
    common.add_json(p)


def register(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a model on a task (STS, pair classification, NLI triplets, "
                                    "retrieval) or your own file",
                       description="Evaluate a sentence encoder. Prints a table (one JSON document with --json), "
                                   "writes the result document with --output and a cosine-vs-gold scatter plot "
                                   "for STS with --plot. Data problems are reported before anything is encoded.")
    common.add_model(p, positional=True)
    _add_data(p)
    common.add_encoding(p)
    p.add_argument("--threshold-split", default=None, metavar="SPLIT",
                   help="pair classification: choose the thresholds on this split (e.g. dev) and apply them "
                        "(default: choose them on the evaluated data, as sentence-transformers does)")
    p.add_argument("--threshold-data", default=None, metavar="FILE",
                   help="pair classification: as --threshold-split, from a file")
    p.add_argument("--index", default=None, choices=["flat", "hnsw", "ivf"],
                   help="retrieval: rank with this index (default flat = exact; hnsw / ivf approximate, "
                        "tuned for recall@10 0.95, need faiss)")
    p.add_argument("--mode", default=None, choices=["dense", "lexical", "hybrid"],
                   help="retrieval: rank by the vectors (dense, default), by BM25 over the documents (lexical: "
                        "Kiwi morphemes for Korean, words otherwise) or by both fused (hybrid: the fusion is "
                        "chosen on the task's dev queries when it has a dev split, else the default)")
    common.add_chunking(p, none=True)  # retrieval of long documents (korquad-docs)
    _add_output(p, "STS: write a scatter plot of cosine similarity vs gold score (a .png, or a folder)")
    p.set_defaults(run=run_eval_command)

    s = sub.add_parser("sweep", help="STS Spearman(cosine) for every pooling x layer of a model (table, heat-map)",
                       description="For every pooling mode (cls, mean, max, mean_sqrt_len, weighted_mean, "
                                   "last_token, pooler) and every hidden state 0..L plus first-last: the STS "
                                   "Spearman of cosine similarity.")
    common.add_model(s, positional=True)
    _add_data(s)
    s.add_argument("--poolings", default=None,
                   help="comma-separated pooling modes to sweep (default: all, pooler when the model has one)")
    s.add_argument("--batch-tokens", type=common.positive_int, default=None, help="token budget of one batch (default 2048)")
    _add_output(s, "write the pooling x layer heat-map (a .png, or a folder)")
    s.set_defaults(run=run_sweep_command)


def _data_kwargs(args) -> dict:
    return {"data": args.data, "columns": args.columns, "score_range": args.score_range,
            "data_root": args.data_root, "skip_bad_rows": args.skip_bad_rows, "limit": args.limit}


def _model_kwargs(args) -> dict:
    return {"device": args.device, "precision": args.precision, "trust_remote_code": args.trust_remote_code}


def _model(args):
    """The model name, or (with --backend / --quality / --calibration other than their defaults) the encoder
    loaded with them: run_eval takes either."""
    if (args.runtime_backend, args.quality, args.calibration) == ("auto", "exact", None):
        return args.model
    return common.load_model(args)


def run_eval_command(args) -> int:
    from ..evaluate.run import run_eval

    doc = run_eval(_model(args), args.task, args.split, **_data_kwargs(args), **_model_kwargs(args),
                   threshold_split=args.threshold_split, threshold_data=args.threshold_data,
                   pooling=args.pooling, layers=args.layers, normalize=args.normalize,
                   prompt_name=args.prompt_name, prompt=args.prompt,
                   batch_tokens=args.batch_tokens, output=args.output, plot=args.plot, index=args.index,
                   mode=args.mode, **common.chunking_kwargs(args))
    common.emit(doc, args.json, format_eval(doc))
    return 0


def run_sweep_command(args) -> int:
    from ..evaluate.run import run_sweep

    doc = run_sweep(_model(args), args.task, args.split, **_data_kwargs(args), **_model_kwargs(args),
                    poolings=args.poolings, batch_tokens=args.batch_tokens, output=args.output, plot=args.plot)
    common.emit(doc, args.json, format_sweep(doc))
    return 0


# ------------------------------------------------------------------ text output
def _fmt(value) -> str:
    return "nan" if value is None else f"{value:.4f}"  # None is a NaN metric (e.g. constant predictions)


def _header(doc: dict) -> str:
    data = doc["data"]
    size = (f"{data['queries']} queries, {data['corpus']} documents" if data.get("queries") is not None
            else f"{data.get('triplets', data['rows'])} {'triplets' if 'triplets' in data else 'examples'}")
    skipped = f", {data['skipped_rows']} rows skipped" if data.get("skipped_rows") else ""
    split = f"/{doc['split']}" if doc.get("split") else f" ({data['path']})"
    s = doc["settings"]
    return (f"{doc['task']}{split}: {doc['evaluation']}, {size}{skipped}\n"
            f"model {doc['model']}  pooling {s.get('pooling')}  layers {s.get('layers')}  "
            f"{s.get('precision')} on {s.get('device')}  {s.get('seconds', 0):.1f} s"
            + (f"  index {s['index']}" if s.get("index") else "")
            + (f"  mode {s['mode']}" if s.get("mode") not in (None, "dense") else "")
            + (f"  chunking {_chunking_line(s['chunking'])}" if s.get("chunking") else "")
            + (f"\nfusion {_fusion_line(s['fusion'])}" if s.get("fusion") else ""))


def _chunking_line(chunking) -> str:
    if not isinstance(chunking, dict):
        return str(chunking)
    return f"{chunking['method']} {chunking['chunk_tokens']} tokens, overlap {chunking['overlap']}, {chunking['chunks']} chunks"


def _fusion_line(fusion: dict) -> str:
    how = f"rrf k={fusion['rrf_k']}" if fusion["method"] == "rrf" else f"convex {fusion['normalisation']}"
    return f"{how}, lexical weight {fusion['weight']}, depth {fusion['depth']} ({fusion.get('chosen_by', '')})"


def format_eval(doc: dict) -> str:
    m, evaluation = doc["metrics"], doc["evaluation"]
    if evaluation == "sts":
        names = [k.split("_", 1)[1] for k in m if k.startswith("spearman_")]
        body = common.table([[n, _fmt(m[f"spearman_{n}"]), _fmt(m[f"pearson_{n}"])] for n in names],
                       ["similarity", "spearman", "pearson"])
    elif evaluation == "binary":
        cols = ["accuracy", "accuracy_threshold", "f1", "f1_threshold", "precision", "recall", "ap", "mcc"]
        names = [k[:-len("_accuracy")] for k in m if k.endswith("_accuracy")]
        body = common.table([[n] + [_fmt(m[f"{n}_{col}"]) for col in cols] for n in names], ["similarity"] + cols)
    elif evaluation == "triplet":
        body = common.table([[k[:-len("_accuracy")], _fmt(v)] for k, v in m.items()], ["similarity", "accuracy"])
    else:
        body = common.table([[k, _fmt(v)] for k, v in m.items()], ["metric", "value"])
    lines = [_header(doc), body, f"main metric {doc['main_metric']} = {_fmt(m.get(doc['main_metric']))}"]
    lines += [f"note: {n}" for n in doc.get("notes", [])]
    if "thresholds_from" in doc["data"]:
        lines.append(f"thresholds chosen on {doc['data']['thresholds_from']['path']}")
    lines += [f"plot: {p}" for p in doc.get("plots", [])]
    if doc.get("output"):
        lines.append(f"results: {doc['output']}")
    return "\n".join(lines)


def format_sweep(doc: dict) -> str:
    # cells padded to one width here, so blank cells (no such layer) keep the columns aligned
    width = {col: max(6, len(col)) for col in doc["columns"]}
    rows = [[p] + [("" if doc["table"][p][col] is None else f"{100 * doc['table'][p][col]:.2f}").rjust(width[col])
                   for col in doc["columns"]] for p in doc["poolings"]]
    best = doc["best"]
    lines = [_header({**doc, "evaluation": "sweep, Spearman(cosine) x 100"}),
             common.table(rows, ["pooling \\ layer"] + [col.rjust(width[col]) for col in doc["columns"]])]
    if best["pooling"] is not None:
        lines.append(f"best: {best['pooling']} at layer {best['layer']}: {100 * best['spearman_cosine']:.2f}")
    lines += [f"note: {n}" for n in doc.get("notes", [])]
    lines += [f"plot: {p}" for p in doc.get("plots", [])]
    if doc.get("output"):
        lines.append(f"results: {doc['output']}")
    return "\n".join(lines)
