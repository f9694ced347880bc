"""Trainer flags shared by the commands that train a BERT head (classify, cross-encoder, mlm): the same
names and meanings as in `twinbert train`, turned into a TrainConfig."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..errors import InputError

CONFIG_FLAGS = ("epochs", "max_steps", "batch_size", "lr", "warmup", "weight_decay", "max_grad_norm", "grad_accum",
                "precision", "seed", "eval_every", "checkpoint_every", "patience", "decline_warning", "log_every",
                "keep_checkpoint")


def add_trainer_args(p, *, lr_default: str = "2e-5", config_file: bool = False) -> None:
    """The trainer's flags. With config_file=True (twinbert train --config) nothing is required and
    unset flags stay None, so the file's values can fill them."""
    p.add_argument("--output", "-o", required=not config_file,
                   help="output folder: model, train_log.jsonl, learning_curve.png, README.md")
    p.add_argument("--resume", action="store_true", default=None if config_file else False,
                   help="continue the run in --output from its checkpoint")
    p.add_argument("--overwrite", action="store_true", default=None if config_file else False,
                   help="let --output be a folder that holds a model (replaced at the end of the run) or other "
                        "files (kept)")
    p.add_argument("--keep-checkpoint", action="store_true", default=None,
                   help="keep the resumable checkpoint (optimizer state, ~3x the model) after the run ends")
    p.add_argument("--epochs", type=int)
    p.add_argument("--max-steps", type=int, help="stop after N optimizer steps")
    p.add_argument("--batch-size", type=int, help="examples per batch (default 16)")
    p.add_argument("--lr", type=float, help=f"peak learning rate (default {lr_default})")
    p.add_argument("--warmup", type=float, help="fraction of steps with linear warm-up (default 0.1)")
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--max-grad-norm", type=float, help="gradient clipping (default 1.0; 0 = off)")
    p.add_argument("--grad-accum", type=int, help="batches per optimizer step (default 1)")
    p.add_argument("--precision", choices=["float32", "bfloat16"], help="bfloat16 = autocast")
    p.add_argument("--seed", type=int)
    p.add_argument("--no-length-grouping", dest="length_grouped", action="store_false", default=None,
                   help="plain shuffled batches instead of batches of similar length")
    p.add_argument("--eval-every", type=int, help="steps between evaluations (default: each epoch end)")
    p.add_argument("--checkpoint-every", type=int,
                   help="steps between resumable checkpoints (default: with each evaluation)")
    p.add_argument("--patience", type=int, help="early stop after N evaluations without a new best")
    p.add_argument("--decline-warning", type=int,
                   help="warn when the dev score fell N evaluations in a row (default 3)")
    p.add_argument("--log-every", type=int)
    p.add_argument("--device", help="cpu, cuda ... (default: cuda if available; torchrun: one GPU per process)")
    p.add_argument("--data-root", help="folder with the shared datasets (default $TWINBERT_DATA or ../shared/data)")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="allow custom model code shipped with the checkpoint (off by default)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def train_config(args, **defaults):
    """A TrainConfig from the flags (unset flags keep `defaults`, then TrainConfig's own defaults)."""
    from ..train.loop import TrainConfig

    values = {**defaults, **{k: getattr(args, k) for k in CONFIG_FLAGS if getattr(args, k, None) is not None}}
    config = TrainConfig(**values)
    if args.length_grouped is not None:
        config.length_grouped = args.length_grouped
    if config.max_grad_norm == 0:
        config.max_grad_norm = None
    config.check()
    return config


def positive(value, flag: str):
    if value is not None and (isinstance(value, bool) or value < 1):
        raise InputError(f"{flag} {value}: expected a positive whole number")
    return value


def report(result, as_json: bool) -> None:
    """Print a TrainResult: one JSON document, or three lines of text."""
    from ..train.distributed import current
    from .common import emit

    if not current().is_main:
        return
    document = {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(result).items()}
    speed = f"in {result.seconds:.0f} s, {result.examples_per_s:.1f} examples/s"
    if result.resumed_at is not None:  # the steps before the checkpoint ran in an earlier process
        text = (f"resumed at step {result.resumed_at} of {result.total_steps}; ran {result.steps_run} steps {speed}; "
                f"{result.steps} steps ({result.epochs_done} epochs) in all\n")
    else:
        text = f"trained {result.steps} steps ({result.epochs_done} epochs) {speed}\n"
    if result.best_metrics:
        main = result.main_metric
        text += f"best dev {main} = {result.best_metrics[main]:.4f} at step {result.best_step}\n"
    text += f"model, train_log.jsonl, learning_curve.png and README.md in {result.output}"
    emit(json.loads(json.dumps(document, default=str)), as_json, text)
