"""twinbert classify train / eval / predict: sequence classification (e.g. sentiment), see twinbert.bert.classifier."""
from __future__ import annotations

from . import common
from .trainer_args import add_trainer_args, report, train_config


def register(sub) -> None:
    p = sub.add_parser("classify", help="train, evaluate and run a text classifier (e.g. sentiment: sst2, nsmc)",
                       description="A sequence-classification head on a BERT-family encoder.")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    t = verbs.add_parser("train", help="fine-tune a classifier (new head on --model, cross-entropy)")
    t.add_argument("--model", "-m", default=common.DEFAULT_MODEL,
                   help=f"encoder or classifier to start from (default: {common.DEFAULT_MODEL})")
    t.add_argument("--task", action="append", required=True, metavar="TASK|FILE",
                   help="training data: sst2, nsmc, TASK:SPLIT (default split train), or a .csv/.tsv/.jsonl file "
                        "with columns text,label; repeatable (concatenated)")
    t.add_argument("--columns", help="TEXT,LABEL column names (or 0-based indexes) of a FILE (default text,label)")
    t.add_argument("--labels", metavar="A,B,...",
                   help="the label set, in the order of the head's outputs, e.g. negative,positive; a label outside "
                        "it is an error (default: the task's labels, else those found, which must all be clean: "
                        "no empty or nan label)")
    t.add_argument("--limit", type=common.positive_int, help="use the first N training rows of each --task only")
    t.add_argument("--eval", action="append", metavar="TASK:SPLIT|FILE",
                   help="dev data, e.g. sst2:dev (the first gives the main metric, accuracy); repeatable")
    t.add_argument("--eval-limit", type=common.positive_int, help="use the first N rows of each --eval only")
    t.add_argument("--max-seq-length", type=int, help="truncate texts to N tokens (default: the model's)")
    t.add_argument("--skip-bad-rows", action="store_true", help="leave out unreadable rows of a FILE")
    add_trainer_args(t)
    t.set_defaults(run=run_train)

    e = verbs.add_parser("eval", help="accuracy, macro-F1 and confusion counts of a trained classifier")
    common.add_model(e, positional=True)
    e.add_argument("--task", required=True, metavar="TASK:SPLIT|FILE", help="labelled data, e.g. sst2:dev")
    e.add_argument("--columns", help="TEXT,LABEL columns of a FILE (default text,label)")
    e.add_argument("--limit", type=common.positive_int, help="the first N rows only")
    e.add_argument("--data-root", help="folder with the shared datasets")
    common.add_json(e)
    e.set_defaults(run=run_eval)

    r = verbs.add_parser("predict", help="label and probabilities of each text")
    common.add_model(r, positional=True)
    r.add_argument("texts", nargs="+", help="one or more texts")
    common.add_json(r)
    r.set_defaults(run=run_predict)


def run_train(args) -> int:
    from ..bert.classifier import train_classifier
    from ..data.spec import read_spec

    common.check_device(args.device)
    config = train_config(args)
    data = [read_spec(t, "classification", split="train", columns=args.columns, labels=args.labels,
                      data_root=args.data_root, limit=args.limit, skip_bad_rows=args.skip_bad_rows) for t in args.task]
    evals = [read_spec(e, "classification", split="dev", columns=args.columns, labels=args.labels,
                       data_root=args.data_root, limit=args.eval_limit, argument="eval") for e in args.eval or []]
    result = train_classifier(args.model, data, config, args.output, eval_data=evals, labels=args.labels,
                              resume=args.resume, overwrite=args.overwrite, device=args.device,
                              max_seq_length=args.max_seq_length,
                              show_progress=not args.no_progress, trust_remote_code=args.trust_remote_code)
    report(result, args.json)
    return 0


def _load(args):
    from ..bert.classifier import Classifier

    return common.load_model(args, loader=Classifier.load)


def run_eval(args) -> int:
    from ..data.spec import read_spec

    data = read_spec(args.task, "classification", split="dev", columns=args.columns, data_root=args.data_root,
                     limit=args.limit)
    clf = _load(args)
    result = clf.evaluate(data)
    doc = {"model": str(args.model), "task": args.task, "data": str(data.path), **result}
    rows = [[name, f"{c['precision']:.4f}", f"{c['recall']:.4f}", f"{c['f1']:.4f}", c["support"]]
            for name, c in result["per_class"].items()]
    confusion = [[f"gold {name}", *counts] for name, counts in zip(result["labels"], result["confusion"])]
    text = "\n".join([f"{args.task}: {result['examples']} examples",
                      f"accuracy  {result['accuracy']:.4f}", f"macro-F1  {result['macro_f1']:.4f}", "",
                      common.table(rows, ["label", "precision", "recall", "f1", "support"]), "",
                      common.table(confusion, ["", *(f"predicted {n}" for n in result["labels"])])])
    common.emit(doc, args.json, text)
    return 0


def run_predict(args) -> int:
    clf = _load(args)
    results = clf.predict(args.texts)
    rows = [[r["label"], f"{r['score']:.4f}", t[:70]] for t, r in zip(args.texts, results)]
    common.emit([{"text": t, **r} for t, r in zip(args.texts, results)], args.json,
                common.table(rows, ["label", "probability", "text"]))
    return 0
