"""Trainer flags shared by the commands that train (train, classify, cross-encoder, mlm), derived from
TrainConfig by dataclass_flags: one flag per field, named after it (max_steps: --max-steps), typed like it,
with the comment beside the field as its help. So a knob is added to TrainConfig alone. Also the report of
a finished run."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..errors import InputError
from ..train.settings import PRECISIONS, TrainConfig
from .dataclass_flags import add_flags, config_values
from .dataclass_flags import field_help as field_comments  # noqa: F401 (the name the trainer's tests read)

# what the command line needs beyond each field's type: an on-by-default field's one flag turns it off
OPTIONS = {"length_grouped": {"flags": ["--no-length-grouping"]}, "precision": {"choices": PRECISIONS}}


def add_trainer_args(p, *, config_file: bool = False, head_lr: bool = False) -> None:
    """The trainer's flags. With config_file=True (twinbert train --config) nothing is required and
    unset flags stay None, so the file's values can fill them. head_lr: the loss has weights of its own
    (a sentence encoder's softmax classifier); a head's weights are part of the model."""
    p.add_argument("--output", "-o", required=not config_file,
                   help="output folder: model, train_log.jsonl, learning_curve.png, README.md")
    p.add_argument("--resume", action="store_true", default=None if config_file else False,
                   help="continue the run in --output from its checkpoint")
    p.add_argument("--overwrite", action="store_true", default=None if config_file else False,
                   help="let --output be a folder that holds a model (replaced at the end of the run) or other "
                        "files (kept)")
    add_config_flags(p, exclude=() if head_lr else ("head_lr",))
    p.add_argument("--device", help="cpu, cuda ... (default: cuda if available; torchrun: one GPU per process)")
    p.add_argument("--data-root", help="folder with the shared datasets (default $TWINBERT_DATA or ../shared/data)")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="allow custom model code shipped with the checkpoint (off by default)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def add_config_flags(p, exclude: tuple[str, ...] = ()) -> None:
    """One flag per TrainConfig field; every flag defaults to None (unset: TrainConfig's default)."""
    add_flags(p, TrainConfig, exclude=exclude, unset=True, options=OPTIONS)


def train_config(args) -> TrainConfig:
    """A TrainConfig from the flags (unset flags keep TrainConfig's defaults), checked."""
    config = TrainConfig(**config_values(args, TrainConfig))
    if config.max_grad_norm == 0:  # the flag's way to say "off"
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
