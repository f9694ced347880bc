"""twinbert recipe korean: build a Korean sentence encoder from multilingual-e5-small, stage by stage."""
from __future__ import annotations

from ..errors import InputError
from . import common


def register(sub) -> None:
    from ..recipes import RECIPES

    p = sub.add_parser("recipe", help="multi-stage training recipes (korean)",
                       description="Run a training recipe into --output. Every stage is resumable: rerun "
                                   "with --resume after an interruption and finished stages are skipped. "
                                   "Recipes: " + "; ".join(f"{k}: {v}" for k, v in RECIPES.items()))
    p.add_argument("recipe", choices=sorted(RECIPES), help="the recipe to run")
    p.add_argument("--output", "-o", required=True, help="folder of the run (stages/, model/, recipe.json)")
    p.add_argument("--base", default="multilingual-e5-small", help="model to start from (default: %(default)s)")
    p.add_argument("--seed", type=int, default=42, help="seed of every stage (default: 42)")
    p.add_argument("--sts-losses", default="cosent,cosine",
                   help="STS losses tried, one candidate each, chosen by KorSTS dev (default: %(default)s)")
    p.add_argument("--no-distill", dest="distill", action="store_false",
                   help="skip the candidate with the MSE loss toward the English teacher")
    p.add_argument("--teacher", default="all-MiniLM-L6-v2", help="English teacher of the distill stage")
    p.add_argument("--english-nli", default="snli:dev,mnli:dev_matched",
                   help="English NLI task:split kept in the NLI stage, joined by commas ('' for none)")
    p.add_argument("--lr", type=float, default=2e-5, help="peak learning rate of every stage (default: 2e-5)")
    p.add_argument("--nli-batch-size", type=common.positive_int, default=32)
    p.add_argument("--sts-batch-size", type=common.positive_int, default=16)
    p.add_argument("--sts-epochs", type=common.positive_int, default=1)
    p.add_argument("--max-seq-length", type=common.positive_int, default=64,
                   help="training length (default: 64); the published model keeps its base's inference length")
    p.add_argument("--alphas", default="0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0",
                   help="interpolation weights tried between the chosen model (1) and its base (0), joined by "
                        "commas ('' skips the stage; default: %(default)s)")
    p.add_argument("--retrieval-dev", default="korquad:dev",
                   help="retrieval task:split that chooses the interpolation (default: %(default)s)")
    p.add_argument("--sts-tolerance", type=float, default=0.005,
                   help="KorSTS dev an interpolation may give up for retrieval (default: %(default)s)")
    p.add_argument("--limit", type=common.positive_int, default=None, help="first N rows of every dataset (quick runs)")
    p.add_argument("--data-root", default=None, help="folder holding korsts/, kornli/, klue/, stsb/ ... "
                                                     "(default: $TWINBERT_DATA, else ../shared/data)")
    p.add_argument("--resume", action="store_true", help="continue the run in --output")
    p.add_argument("--overwrite", action="store_true", help="start again over a recipe run in --output")
    common.add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..recipes import KoreanRecipe, run_korean_recipe

    recipe = KoreanRecipe(base=args.base, seed=args.seed, sts_losses=_names(args.sts_losses), distill=args.distill,
                          teacher=args.teacher, english_nli=_names(args.english_nli), lr=args.lr,
                          nli_batch_size=args.nli_batch_size, sts_batch_size=args.sts_batch_size,
                          sts_epochs=args.sts_epochs, max_seq_length=args.max_seq_length, limit=args.limit,
                          alphas=_alphas(args.alphas), retrieval_dev=args.retrieval_dev,
                          sts_tolerance=args.sts_tolerance)
    record = run_korean_recipe(args.output, recipe, data_root=args.data_root, resume=args.resume,
                               overwrite=args.overwrite)
    lines = [f"{name}: KorSTS dev {_fmt(stage.get('dev'))}, {stage['seconds']:.0f} s"
             for name, stage in record["stages"].items() if "dev" in stage]
    lines.append(f"chosen: {record['chosen']} -> {args.output}/model")
    lines += [f"{name}: {value:.4f}" for name, value in record["scores"].items()]
    common.emit(record, args.json, "\n".join(lines))
    return 0


def _names(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _alphas(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(item) for item in _names(text))
    except ValueError:
        raise InputError(f"--alphas {text!r}: expected numbers from 0 to 1 joined by commas, e.g. 0.5,0.7,1",
                         argument="--alphas") from None


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"
