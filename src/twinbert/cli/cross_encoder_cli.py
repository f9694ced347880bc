"""twinbert cross-encoder train / score / rerank: pair scoring with BERT reading both texts at once,
see twinbert.bert.cross_encoder."""
from __future__ import annotations

from ..errors import InputError
from . import common
from .trainer_args import add_trainer_args, positive, report, train_config


def register(sub) -> None:
    p = sub.add_parser("cross-encoder", help="train a cross-encoder, score text pairs, rerank search hits",
                       description="BERT on the concatenated pair ([CLS] a [SEP] b [SEP]) with a one-score "
                                   "(STS, relevance) or a classification (NLI) head.")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    t = verbs.add_parser("train", help="fine-tune a cross-encoder on scored (STS) or labelled (NLI) pairs")
    t.add_argument("--model", "-m", default=common.DEFAULT_MODEL,
                   help=f"encoder or cross-encoder to start from (default: {common.DEFAULT_MODEL})")
    t.add_argument("--task", required=True, metavar="TASK|FILE",
                   help="training pairs: stsb, sick, korsts (scores), sick-nli, mrpc, rte (labels), TASK:SPLIT, or "
                        "a .csv/.tsv/.jsonl file (see --columns, --target)")
    t.add_argument("--columns", help="SENTENCE1,SENTENCE2,TARGET columns of a FILE (default sentence1,sentence2,score)")
    t.add_argument("--target", choices=["score", "label"],
                   help="what the third column of a FILE holds (default score; label with --labels)")
    t.add_argument("--labels", metavar="A,B,...",
                   help="labelled pairs: the label set, in the order of the head's outputs, e.g. "
                        "entailment,neutral,contradiction; a label outside it is an error (default: the task's "
                        "labels, else those found, which must all be clean: no empty or nan label)")
    t.add_argument("--score-range", help="LOW,HIGH of the scores (default: the task's; 0,5 for a FILE)")
    t.add_argument("--loss", choices=["bce", "mse"], help="one-score head: bce (default) or mse on sigmoid scores; "
                   "labelled pairs always use cross-entropy")
    t.add_argument("--limit", type=common.positive_int, help="use the first N training pairs only")
    t.add_argument("--eval", action="append", metavar="TASK:SPLIT|FILE",
                   help="dev data, e.g. stsb:dev (the first gives the main metric: spearman or accuracy); repeatable")
    t.add_argument("--eval-limit", type=common.positive_int, help="use the first N pairs of each --eval only")
    t.add_argument("--max-seq-length", type=int, help="truncate pairs to N tokens (default: the model's)")
    t.add_argument("--skip-bad-rows", action="store_true", help="leave out unreadable rows of a FILE")
    add_trainer_args(t)
    t.set_defaults(run=run_train)

    s = verbs.add_parser("score", help="score text pairs: TEXT_A TEXT_B [TEXT_A TEXT_B ...]")
    common.add_model(s, positional=True)
    s.add_argument("texts", nargs="*", help="texts in pairs: a1 b1 a2 b2 ...")
    s.add_argument("--input", "-i", help="a .csv/.tsv/.jsonl file of pairs (columns sentence1,sentence2)")
    s.add_argument("--columns", help="SENTENCE1,SENTENCE2 columns of --input")
    common.add_json(s)
    s.set_defaults(run=run_score)

    r = verbs.add_parser("rerank", help="order candidate texts (or an index's hits) by the cross-encoder's score")
    common.add_model(r, positional=True)
    r.add_argument("query", help="the query text")
    r.add_argument("candidates", nargs="*", help="candidate texts")
    r.add_argument("--input", "-i", help="candidates from a file: .txt (one per line), .csv/.tsv/.jsonl (--column)")
    r.add_argument("--column", help="column of --input holding the texts")
    r.add_argument("--index", help="first stage: search this index (twinbert index build) with its model, then "
                                   "rerank its hits")
    r.add_argument("--candidates", dest="first_k", type=int, default=20,
                   help="hits taken from --index (default 20)")
    r.add_argument("--top-k", "-k", type=int, help="keep the best K (default: all)")
    r.add_argument("--label", help="a classification cross-encoder ranks by the probability of this label")
    common.add_json(r)
    r.set_defaults(run=run_rerank)


def run_train(args) -> int:
    from ..bert.cross_encoder import train_cross_encoder
    from ..data.spec import parse_score_range, read_spec

    common.check_device(args.device)
    config = train_config(args)
    target = args.target or ("label" if args.labels else "score")
    shape = "labelled-pairs" if target == "label" else "scored-pairs"  # what a FILE's third column holds
    options = {"columns": args.columns, "score_range": args.score_range, "labels": args.labels,
               "data_root": args.data_root}
    data = read_spec(args.task, shape, split="train", limit=args.limit, skip_bad_rows=args.skip_bad_rows, **options)
    evals = [read_spec(e, shape, split="dev", limit=args.eval_limit, argument="eval", **options)
             for e in args.eval or []]
    result = train_cross_encoder(args.model, data, config, args.output, loss=args.loss,
                                 score_range=parse_score_range(args.score_range) if args.score_range else None,
                                 eval_data=evals, labels=args.labels, resume=args.resume,
                                 overwrite=args.overwrite, device=args.device,
                                 max_seq_length=args.max_seq_length, show_progress=not args.no_progress,
                                 trust_remote_code=args.trust_remote_code)
    report(result, args.json)
    return 0


def _load(args):
    from ..bert.cross_encoder import CrossEncoder

    return common.load_model(args, loader=CrossEncoder.load)


def run_score(args) -> int:
    if args.input:
        from ..data import read_pairs
        from ..data.spec import parse_columns

        if args.texts:
            raise InputError("give the pairs either as texts or with --input, not both")
        data = read_pairs(args.input, parse_columns(args.columns) if args.columns else ("sentence1", "sentence2"))
        a, b = [e.sentence1 for e in data.examples], [e.sentence2 for e in data.examples]
    else:
        if not args.texts or len(args.texts) % 2:
            raise InputError(f"{len(args.texts)} texts: give pairs, TEXT_A TEXT_B [TEXT_A TEXT_B ...], or --input FILE")
        a, b = args.texts[0::2], args.texts[1::2]
    ce = _load(args)
    doc = ce.predict_pairs(a, b)
    if ce.regression:
        text = common.table([[f"{d['score']:.4f}", d["first"][:40], d["second"][:40]] for d in doc],
                            ["score", "text a", "text b"])
    else:
        text = common.table([[d["label"], *(f"{v:.4f}" for v in d["probabilities"].values()), d["first"][:35],
                              d["second"][:35]] for d in doc], ["label", *ce.labels, "text a", "text b"])
    common.emit(doc, args.json, text)
    return 0


def run_rerank(args) -> int:
    sources = sum(bool(x) for x in (args.candidates, args.input, args.index))
    if sources != 1:
        raise InputError("give the candidates one way: as texts, with --input FILE, or with --index INDEX")
    positive(args.first_k, "--candidates")
    positive(args.top_k, "--top-k")
    if args.index:
        from .. import load
        from ..search import Index, search_and_rerank

        index = Index.load(args.index)
        encoder = load(index.model_name, device=args.device)
        hits = search_and_rerank(index, args.query, _load(args), k=args.top_k, candidates=args.first_k,
                                 encoder=encoder, label=args.label)[0]
    else:
        if args.input:
            from ..formats.texts import read_texts

            candidates = list(read_texts(args.input, args.column))
        else:
            candidates = args.candidates
        hits = _load(args).rerank(args.query, candidates, top_k=args.top_k, label=args.label)
    first = any("first_stage_score" in h for h in hits)
    rows = [[h["rank"], f"{h['score']:.4f}", *([f"{h['first_stage_score']:.4f}"] if first else []), h["text"][:70]]
            for h in hits]
    text = f"query: {args.query}\n" + common.table(rows, ["rank", "score", *(["first stage"] if first else []), "text"])
    common.emit({"query": args.query, "model": str(args.model), "hits": hits}, args.json, text)
    return 0
