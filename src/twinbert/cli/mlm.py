"""twinbert mlm train / eval: masked-language-model training (continued pre-training) and its held-out
masked-token accuracy and perplexity, see twinbert.bert.mlm."""
from __future__ import annotations

from ..errors import InputError
from . import common
from .trainer_args import add_trainer_args, report, train_config


def _data_args(p, what: str) -> None:
    p.add_argument("--task", metavar="TASK:SPLIT", help=f"{what}: a registered task's texts, e.g. wikitext2:valid")
    p.add_argument("--data", metavar="FILE", help=f"{what}: a .txt file (one text per line) or .csv/.tsv/.jsonl "
                   "(--column, default text)")
    # dest "columns": the library's argument, so its messages name this flag
    p.add_argument("--column", dest="columns", help="text column of a .csv/.tsv/.jsonl --data file")
    p.add_argument("--limit", type=common.positive_int, help="the first N texts only")


def _masking_args(p) -> None:
    p.add_argument("--whole-word", action="store_true", help="mask whole words (a token and its ## pieces)")
    p.add_argument("--mask-prob", type=float, default=0.15, help="share of tokens chosen (default 0.15)")
    p.add_argument("--block-size", type=int, help="tokens per block; longer texts are split (default 128 or the "
                                                  "model's max_seq_length)")


def register(sub) -> None:
    p = sub.add_parser("mlm", help="masked-LM training (continued pre-training) and evaluation",
                       description="Masked-language-model training: 15% of the tokens chosen, 80/10/10 "
                                   "mask/random/keep, optionally whole words.")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    t = verbs.add_parser("train", help="train the masked-LM head (new on an encoder such as all-MiniLM-L6-v2) "
                                       "and the encoder on text")
    t.add_argument("--model", "-m", default=common.DEFAULT_MODEL,
                   help=f"model to start from (default: {common.DEFAULT_MODEL}; a model without a masked-LM "
                        "head gets a new, random one)")
    _data_args(t, "training text")
    _masking_args(t)
    t.add_argument("--eval", metavar="TASK:SPLIT|FILE", help="held-out text, e.g. wikitext2:test (main metric: "
                   "masked-token accuracy)")
    t.add_argument("--eval-limit", type=common.positive_int, help="the first N held-out texts only")
    t.add_argument("--eval-seed", type=int, default=0, help="seed of the one fixed masking of --eval (default 0)")
    add_trainer_args(t)
    t.set_defaults(run=run_train)

    e = verbs.add_parser("eval", help="masked-token accuracy and perplexity on held-out text (fixed masking)")
    common.add_model(e, positional=True)
    _data_args(e, "held-out text")
    _masking_args(e)
    e.add_argument("--seed", type=int, default=0, help="seed of the masking (default 0)")
    e.add_argument("--allow-new-head", action="store_true",
                   help="score a model without a masked-LM head through a new, random head (seeded by --seed): "
                        "the baseline before training")
    e.add_argument("--data-root", help="folder with the shared datasets")
    common.add_json(e)
    e.set_defaults(run=run_eval)


def _texts(args, task, data, limit, data_root):
    from ..data.spec import read_spec

    if (task is None) == (data is None):
        raise InputError("give the text either with --task TASK:SPLIT or with --data FILE")
    return read_spec(task or data, "texts", split="train", columns=args.columns, data_root=data_root, limit=limit,
                     argument="task" if task else "data")


def run_train(args) -> int:
    from ..bert.mlm import train_masked_lm

    common.check_device(args.device)
    config = train_config(args)
    texts = _texts(args, args.task, args.data, args.limit, args.data_root)
    held_out = None
    if args.eval:
        from ..data.spec import read_spec

        held_out = read_spec(args.eval, "texts", split="test", columns=args.columns, data_root=args.data_root,
                             limit=args.eval_limit, argument="eval")
    result = train_masked_lm(args.model, texts, config, args.output, eval_data=held_out, whole_word=args.whole_word,
                             probability=args.mask_prob, block_size=args.block_size, eval_seed=args.eval_seed,
                             resume=args.resume, overwrite=args.overwrite, device=args.device,
                             show_progress=not args.no_progress,
                             trust_remote_code=args.trust_remote_code)
    report(result, args.json)
    return 0


def run_eval(args) -> int:
    from ..bert.mlm import evaluate_masked_lm

    texts = _texts(args, args.task, args.data, args.limit, args.data_root)
    common.check_device(args.device)
    result = evaluate_masked_lm(args.model, texts, seed=args.seed, probability=args.mask_prob,
                                whole_word=args.whole_word, block_size=args.block_size, device=args.device,
                                allow_new_head=args.allow_new_head, precision=args.precision,
                                trust_remote_code=args.trust_remote_code)
    doc = {"model": str(args.model), "data": str(texts.path), "texts": len(texts), **result}
    text = (f"{texts.name}:{texts.split}: {len(texts)} texts, {result['blocks']} blocks, {result['masked_tokens']} "
            f"masked tokens (seed {args.seed}{', whole words' if args.whole_word else ''})\n"
            f"masked-token accuracy  {result['accuracy']:.4f}\nperplexity             {result['perplexity']:.2f}")
    common.emit(doc, args.json, text)
    return 0
