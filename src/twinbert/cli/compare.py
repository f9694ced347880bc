"""twinbert compare: several models and/or poolings on the same sentences, side by side, with a plot."""
from __future__ import annotations

from . import common


def register(sub) -> None:
    p = sub.add_parser("compare", help="score sentences against an anchor with several models/poolings",
                       description="The first sentence is the anchor; each other sentence is scored against "
                                   "it with every (model, pooling) pair.")
    p.add_argument("sentences", nargs="+", help="anchor sentence, then the sentences to score")
    p.add_argument("--models", default=common.DEFAULT_MODEL,
                   help="comma-separated model folders or names (default: the default model)")
    p.add_argument("--poolings", default="cls,pooler,mean,max", help="comma-separated poolings")
    p.add_argument("--layers", default=None, help="layer choice, as for encode")
    common.add_prompt(p)
    p.add_argument("--metric", default="cosine", choices=["cosine", "dot", "euclidean", "manhattan"])
    p.add_argument("--device", default=None)
    common.add_runtime(p)
    p.add_argument("--trust-remote-code", action="store_true")
    p.add_argument("--plot", default=None, help="write a grouped bar chart PNG here")
    common.add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..compare import check_poolings, compare
    from ..errors import InputError

    names = [m.strip() for m in args.models.split(",") if m.strip()]
    if not names:
        raise InputError(f"--models {args.models!r} names no model: give model folders or names joined by commas")
    common.check_device(args.device)
    poolings = check_poolings([p.strip() for p in args.poolings.split(",") if p.strip()])
    encoders = {name: common.load_model(args, name) for name in names}
    result = compare(encoders, args.sentences, poolings, layers=args.layers, metric=args.metric,
                     prompt_name=args.prompt_name, prompt=args.prompt)
    label = (lambda c: c["pooling"]) if len(names) == 1 else (lambda c: f"{c['model']} / {c['pooling']}")
    if args.plot:
        from ..plots import grouped_bars
        grouped_bars(result["sentences"], {label(c): c["scores"] for c in result["columns"]}, args.plot,
                     title=f"{args.metric} similarity to: {result['anchor'][:60]}", ylabel=args.metric)
        result["plot"] = args.plot
    rows = [[s[:50]] + [f"{c['scores'][k]:.4f}" for c in result["columns"]] for k, s in enumerate(result["sentences"])]
    text = f"anchor: {result['anchor']}\n" + common.table(rows, ["sentence"] + [label(c) for c in result["columns"]])
    for s in result["skipped"]:
        text += f"\n(skipped {s['model']} / {s['pooling']}: {s['reason']})"
    common.emit(result, args.json, text)
    return 0
