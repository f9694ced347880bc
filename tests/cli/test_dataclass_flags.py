"""The flag builder (twinbert.cli.dataclass_flags) on a small synthetic dataclass: each supported type
(bool, Optional, Literal, Path, list, tuple), the help read from the comments, defaults, the environment,
the options a command adds, and the refusal of a type it cannot read."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from twinbert.cli.dataclass_flags import add_flags, config_values, field_help


@dataclass
class Knobs:
    verbose: bool = False                # say more
    batching: bool = True                # group by length
    limit: int | None = None             # first N rows
    mode: Literal["fast", "exact"] = "exact"  # how to run
    folder: Path = Path("out")           # where results go
    dims: list[int] = field(default_factory=lambda: [8, 4])  # nested sizes
    names: tuple[str, ...] = ()          # names to keep, for 50% of
    # the rows (a second comment line continues the help)
    rate: float = 2e-5                   # step size
    key: str | None = field(default=None, metadata={"env": "KNOBS_TEST_KEY"})  # secret
    columns: list | str | None = None    # names or indexes
    plain: int = 3


def parser(**kwargs) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="knobs", exit_on_error=False)
    add_flags(p, Knobs, **kwargs)
    return p


def actions(p: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in p._actions}


def test_help_is_the_comment_with_its_continuation_lines():
    helps = field_help(Knobs)
    assert helps["names"] == "names to keep, for 50% of the rows (a second comment line continues the help)"
    assert helps["key"] == "secret" and helps["verbose"] == "say more" and "plain" not in helps


def test_each_type_becomes_its_flag():
    flags = actions(parser())
    assert flags["verbose"].option_strings == ["--verbose", "--no-verbose"]
    assert flags["mode"].choices == ["fast", "exact"] and flags["limit"].type is int
    assert flags["folder"].type is Path and flags["rate"].type is float and flags["columns"].type is str
    args = parser().parse_args(["--verbose", "--no-batching", "--limit", "5", "--mode", "fast", "--folder", "x/y",
                                "--dims", "16,8", "--dims", "2", "--names", "a,b", "--rate", "1e-3",
                                "--columns", "0,2", "--plain", "7"])
    assert config_values(args, Knobs) == {"verbose": True, "batching": False, "limit": 5, "mode": "fast",
                                          "folder": Path("x/y"), "dims": [16, 8, 2], "names": ("a", "b"),
                                          "rate": 1e-3, "columns": "0,2", "plain": 7}
    assert parser().parse_args(["--names", ""]).names == ()  # '' is the empty list


def test_the_derived_defaults_are_the_dataclass_defaults(monkeypatch):
    monkeypatch.delenv("KNOBS_TEST_KEY", raising=False)
    args = parser().parse_args([])
    assert Knobs(**config_values(args, Knobs)) == Knobs()
    assert args.dims == [8, 4] and args.folder == Path("out") and args.batching is True
    unset = parser(unset=True).parse_args([])
    assert config_values(unset, Knobs) == {} and Knobs(**config_values(unset, Knobs)) == Knobs()


def test_help_shows_the_default_and_how_lists_are_given():
    text = parser().format_help().replace("\n", " ")
    for expected in ("step size (default 2e-5)", "how to run (default exact)", "where results go (default out)",
                     "nested sizes; joined by commas, or the flag repeated ('' for none) (default 8,4)",
                     "group by length (default on)", "names to keep, for 50% of the rows"):
        assert expected in " ".join(text.split()), expected
    assert "say more (default" not in text and "first N rows (default" not in text  # off / None: nothing to show


def test_an_environment_variable_is_the_default_and_the_help_names_it(monkeypatch):
    monkeypatch.setenv("KNOBS_TEST_KEY", "s3cret")
    p = parser()
    assert p.parse_args([]).key == "s3cret" and p.parse_args(["--key", "mine"]).key == "mine"
    assert "secret (default $KNOBS_TEST_KEY)" in p.format_help() and "s3cret" not in p.format_help()
    assert parser(unset=True).parse_args([]).key is None


def test_options_rename_a_flag_and_one_no_flag_turns_a_field_off():
    flags = actions(parser(options={"batching": {"flags": ["--no-batching"]}, "names": {"flags": ["--name"]},
                                    "plain": {"type": lambda text: int(text) * 10}}))
    assert flags["batching"].option_strings == ["--no-batching"]
    assert flags["batching"].help == "turn off (on by default): group by length"
    p = parser(options={"batching": {"flags": ["--no-batching"]}, "names": {"flags": ["--name"]},
                        "plain": {"type": lambda text: int(text) * 10}})
    args = p.parse_args(["--no-batching", "--name", "a", "--name", "b", "--plain", "2"])
    assert (args.batching, args.names, args.plain) == (False, ("a", "b"), 20)


def test_bad_values_are_usage_errors_naming_the_flag():
    p = parser()
    with pytest.raises(argparse.ArgumentError, match="--dims: expected whole numbers joined by commas, got '8,x'"):
        p.parse_args(["--dims", "8,x"])
    with pytest.raises(argparse.ArgumentError, match="--mode: invalid choice"):
        p.parse_args(["--mode", "slow"])


def test_a_type_without_a_flag_is_refused_by_name():
    @dataclass
    class Odd:
        table: dict[str, int] = field(default_factory=dict)  # no flag reads a dict

    with pytest.raises(TypeError, match="field table: no command-line flag"):
        add_flags(argparse.ArgumentParser(), Odd)
