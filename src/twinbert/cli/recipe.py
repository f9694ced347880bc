"""twinbert recipe korean: build a Korean sentence encoder from multilingual-e5-small, stage by stage."""
from __future__ import annotations

from . import common
from .dataclass_flags import add_flags, config_values

POSITIVE = {"type": common.positive_int}
# what the command line needs beyond KoreanRecipe's types: counts and sizes are 1 or more
OPTIONS = {name: POSITIVE for name in ("nli_batch_size", "sts_batch_size", "nli_epochs", "sts_epochs",
                                       "evals_per_epoch", "max_seq_length", "limit")}


def register(sub) -> None:
    from ..recipes import RECIPES, KoreanRecipe

    p = sub.add_parser("recipe", help="multi-stage training recipes (korean)",
                       description="Run a training recipe into --output. Every stage is resumable: rerun "
                                   "with --resume after an interruption and finished stages are skipped. "
                                   "Recipes: " + "; ".join(f"{k}: {v}" for k, v in RECIPES.items()))
    p.add_argument("recipe", choices=sorted(RECIPES), help="the recipe to run")
    p.add_argument("--output", "-o", required=True, help="folder of the run (stages/, model/, recipe.json)")
    add_flags(p, KoreanRecipe, options=OPTIONS)
    p.add_argument("--data-root", default=None, help="folder holding korsts/, kornli/, klue/, stsb/ ... "
                                                     "(default: $TWINBERT_DATA, else ../shared/data)")
    p.add_argument("--resume", action="store_true", help="continue the run in --output")
    p.add_argument("--overwrite", action="store_true", help="start again over a recipe run in --output")
    common.add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..recipes import KoreanRecipe, run_korean_recipe

    record = run_korean_recipe(args.output, KoreanRecipe(**config_values(args, KoreanRecipe)),
                               data_root=args.data_root, resume=args.resume, overwrite=args.overwrite)
    lines = [f"{name}: KorSTS dev {_fmt(stage.get('dev'))}, {stage['seconds']:.0f} s"
             for name, stage in record["stages"].items() if "dev" in stage]
    lines.append(f"chosen: {record['chosen']} -> {args.output}/model")
    lines += [f"{name}: {value:.4f}" for name, value in record["scores"].items()]
    common.emit(record, args.json, "\n".join(lines))
    return 0


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"
