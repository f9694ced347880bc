"""Training config files: the settings of `twinbert train` in a TOML or YAML file, read and checked here.

Top-level keys: every field of TrainConfig (epochs, lr, ...), every field of TrainSpec but loss and task
(data, columns, score_range, margin ...: they apply to each dataset), and the run's own settings
(RUN_KEYS: model, task, loss, eval, output, teacher ...). Several datasets, each with its loss, are a
list `datasets` of tables with TrainSpec's fields (task and loss required):

    model = "all-MiniLM-L6-v2"
    output = "out/stsb"
    epochs = 1

    [[datasets]]
    task = "stsb"
    loss = "cosine"

Every error names the file and the key at fault.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from .. import extras
from ..errors import InputError, MissingExtraError
from .sentence import TrainSpec
from .settings import TrainConfig

RUN_KEYS = ("model", "task", "loss", "datasets", "eval", "output", "teacher", "resume", "overwrite",
            "max_seq_length", "device", "data_root", "skip_bad_rows")
SPEC_KEYS = tuple(f.name for f in dataclasses.fields(TrainSpec) if f.name not in ("task", "loss"))
CONFIG_KEYS = tuple(f.name for f in dataclasses.fields(TrainConfig))


def read_config(path) -> dict:
    """The settings in a .toml, .yaml or .yml file, as a dict; unknown keys and malformed datasets
    entries are an InputError naming the file and the key."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"config {file}: not found", argument="config")
    data = _parse(file, file.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise InputError(f"config {file}: expected a table of settings at the top level", argument="config")
    known = set(CONFIG_KEYS) | set(SPEC_KEYS) | set(RUN_KEYS)
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"config {file}: unknown setting {unknown[0]!r}; expected some of {', '.join(sorted(known))}",
                         argument="config")
    for k, entry in enumerate(_listify(data.get("datasets"))):
        if not isinstance(entry, dict) or "task" not in entry or "loss" not in entry:
            raise InputError(f"config {file}: datasets[{k}] needs 'task' and 'loss'", argument="config")
        unknown = sorted(set(entry) - set(SPEC_KEYS) - {"task", "loss"})
        if unknown:
            raise InputError(f"config {file}: datasets[{k}] has unknown key {unknown[0]!r}; expected some of "
                             f"task, loss, {', '.join(SPEC_KEYS)}", argument="config")
    return data


def _parse(file: Path, text: str):
    suffix = file.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise InputError(f"config {file}: expected a .toml, .yaml or .yml file", argument="config")
    try:
        if suffix == ".toml":
            import tomllib

            return tomllib.loads(text)
        try:
            yaml = extras.require("yaml", f"config {file}: YAML", otherwise="or use TOML")
        except MissingExtraError as e:
            e.argument = "config"  # the CLI names --config
            raise
        return yaml.safe_load(text) or {}
    except (InputError, MissingExtraError):
        raise
    except Exception as e:  # tomllib / yaml errors carry the line
        raise InputError(f"config {file}: cannot parse ({e})", argument="config") from None


def _listify(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


__all__ = ["CONFIG_KEYS", "RUN_KEYS", "SPEC_KEYS", "read_config"]
