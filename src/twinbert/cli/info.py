"""twinbert info: what a model is (architecture, size, pooling, dimension, limits)."""
from __future__ import annotations

from . import common


def register(sub) -> None:
    p = sub.add_parser("info", help="describe a model: architecture, layers, pooling, dimension")
    common.add_model(p, positional=True)
    common.add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    encoder = common.load_model(args)
    info = encoder.info()
    common.emit(info, args.json, "\n".join(f"{k:16} {v}" for k, v in info.items()))
    return 0
