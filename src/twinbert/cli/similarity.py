"""twinbert similarity: the similarity matrix of a few sentences, as a table and optionally a heat-map."""
from __future__ import annotations

from . import common


def register(sub) -> None:
    p = sub.add_parser("similarity", help="similarity matrix of sentences (table, --plot heatmap.png)")
    p.add_argument("sentences", nargs="+", help="two or more sentences")
    common.add_model(p)
    common.add_encoding(p)
    p.add_argument("--metric", default="cosine", choices=["cosine", "dot", "euclidean", "manhattan"],
                   help="euclidean/manhattan are shown as negative distances (higher = more similar)")
    p.add_argument("--plot", default=None, help="write a heat-map PNG here")
    common.add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..errors import InputError
    from ..similarity import similarity

    if len(args.sentences) < 2:
        raise InputError("give at least two sentences")
    encoder = common.load_model(args)
    vectors = encoder.encode(args.sentences, **common.encode_kwargs(args))
    matrix = similarity(vectors, vectors, args.metric)
    result = {"model": encoder.name, "metric": args.metric, "sentences": args.sentences,
              "matrix": [[round(float(v), 6) for v in row] for row in matrix], "settings": encoder.settings(**common.encode_kwargs(args))}
    if args.plot:
        from ..plots import heatmap
        labels = [f"{k}: {s}" for k, s in enumerate(args.sentences)]
        heatmap(matrix, labels, [str(k) for k in range(len(labels))], args.plot,
                title=f"{args.metric} similarity ({encoder.name})")
        result["plot"] = args.plot
    rows = [[f"{k}: {s[:50]}"] + [f"{v:.4f}" for v in row] for k, (s, row) in enumerate(zip(args.sentences, matrix))]
    common.emit(result, args.json, common.table(rows, ["sentence"] + [str(k) for k in range(len(rows))]))
    return 0
