"""TrainConfig is the one list of training knobs: every field is a flag of every training command, with
the field's comment as its help; a checkpoint's position record is the loop's Position."""
from __future__ import annotations

import argparse
import dataclasses

import pytest

from twinbert.cli.main import build_parser
from twinbert.cli.trainer_args import add_trainer_args, field_comments, train_config
from twinbert.train import TrainConfig
from twinbert.train.checkpoint import Position

FIELDS = [f.name for f in dataclasses.fields(TrainConfig)]


def _subparser(parser: argparse.ArgumentParser, *path: str) -> argparse.ArgumentParser:
    for name in path:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return parser


def test_every_field_has_a_comment_and_a_flag_in_every_training_command():
    comments = field_comments(TrainConfig)
    assert set(comments) == set(FIELDS) and all(comments.values())
    parser = build_parser()
    for path in (("train",), ("classify", "train"), ("cross-encoder", "train"), ("mlm", "train")):
        actions = {a.dest: a for a in _subparser(parser, *path)._actions}
        for name in FIELDS:
            if name == "head_lr" and path != ("train",):  # a head's weights are the model's: one lr
                assert name not in actions
                continue
            assert comments[name] in actions[name].help, (path, name)
    flags = {a.dest: a.option_strings for a in _subparser(parser, "train")._actions}
    assert flags["length_grouped"] == ["--no-length-grouping"] and flags["max_steps"] == ["--max-steps"]


def test_flags_become_a_checked_config():
    p = argparse.ArgumentParser()
    add_trainer_args(p)
    args = p.parse_args(["-o", "x", "--max-steps", "3", "--lr", "1e-3", "--max-grad-norm", "0",
                         "--no-length-grouping", "--keep-checkpoint", "--precision", "bfloat16"])
    assert train_config(args) == TrainConfig(max_steps=3, lr=1e-3, max_grad_norm=None, length_grouped=False,
                                             keep_checkpoint=True, precision="bfloat16")
    assert train_config(p.parse_args(["-o", "x"])) == TrainConfig()  # unset: the library's defaults
    with pytest.raises(SystemExit):
        p.parse_args(["-o", "x", "--precision", "float16"])


def test_lr_unset_is_the_trainers_default():
    assert TrainConfig().checked().lr == 2e-5 and TrainConfig().checked(5e-5).lr == 5e-5
    assert TrainConfig(lr=1e-3).checked(5e-5).lr == 1e-3


def test_position_reads_the_checkpoints_of_before_issue_12():
    """The evaluation history used to be stored apart ("tracker"); both layouts give the same Position."""
    history = {"best": 0.5, "best_step": 2, "best_metrics": {"m": 0.5}, "last_metrics": {"m": 0.4},
               "history": [(2, 0.5), (4, 0.4)], "since_best": 1, "falling": 1, "warnings": []}
    old = Position.of({"position": {"step": 4, "epoch": 1, "group": 0}, "tracker": history})
    assert old == Position.of({"position": dataclasses.asdict(old)})
    assert (old.step, old.epoch, old.group, old.best_step, old.since_best) == (4, 1, 0, 2, 1)


def test_position_advances_through_epochs_and_keeps_the_best():
    pos = Position()
    for _ in range(3):
        pos.advance(groups=2)
    assert (pos.step, pos.epoch, pos.group) == (3, 1, 1)
    assert pos.record({"m": 0.5}, "m", decline_warning=2) == (True, None)
    pos.step = 4
    assert pos.record({"m": 0.4}, "m", decline_warning=2) == (False, None)
    pos.step = 5
    improved, warning = pos.record({"m": 0.3}, "m", decline_warning=2)
    assert not improved and "fell 2 evaluations in a row (0.5000 -> 0.4000 -> 0.3000)" in warning
    assert (pos.best_step, pos.since_best, pos.history[-1]) == (3, 2, (5, 0.3))
