"""twinbert info: what a model is (architecture, size, pooling, dimension, limits) and what runs it here
(backend, precision, the CPU features that decided them), or with --list which models load offline and
where they come from."""
from __future__ import annotations

from . import common


def register(sub) -> None:
    p = sub.add_parser("info", help="describe a model, or list the models available offline (--list)")
    common.add_model(p, positional=True, optional=True)
    p.add_argument("--list", action="store_true", help="list the models available offline, with their sources")
    common.add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    if args.list:
        from ..formats.resolve import available_models

        models = available_models()
        rows = [[m["name"], m["source"], m["path"] or "-"] for m in models]
        common.emit(models, args.json, common.table(rows, ["model", "source", "folder"]))
        return 0
    if not args.model:
        from ..errors import InputError

        raise InputError("give a MODEL to describe, or --list to see the models available offline")
    encoder = common.load_model(args)
    info = encoder.info()
    common.emit(info, args.json, format_info(info))
    return 0


def format_info(info: dict) -> str:
    """One line a field ("name value"); the runtime's fields (backend, precision, why, the CPU features that
    decided them) as runtime.NAME."""
    lines = [f"{k:16} {v}" for k, v in info.items() if k != "runtime"]
    lines += [f"{'runtime.' + k:24} {', '.join(v) if isinstance(v, list) else v}"
              for k, v in info.get("runtime", {}).items()]
    return "\n".join(lines)
