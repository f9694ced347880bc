"""The output folder of a training run: what it may hold before the run, its log, and what the run
publishes at the end.

  model files       the best model (with an evaluator), else the last; published at the end
  train_log.jsonl   one JSON row per event (train, eval, warning, checkpoint, resume, end)
  learning_curve.png
  README.md         the model card
  checkpoint/       the resumable state (twinbert.train.checkpoint), removed at the end unless kept
"""
from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from ..errors import InputError, MissingExtraError
from ..formats.atomic import atomic_file, atomic_folder
from ..formats.model_folder import check_not_source, check_target, install, source_folders
from . import checkpoint

log = logging.getLogger("twinbert")

LOG_FILE = "train_log.jsonl"
CURVE_FILE = "learning_curve.png"
BEST_FOLDER = ".best-model"
RUN_FILES = (LOG_FILE, CURVE_FILE, checkpoint.FOLDER)  # a run's own files, not the user's (see check_output)


def check_output(output, resume: bool, overwrite: bool = False, sources=()) -> Path:
    """The output folder of a training run, checked before any work: missing, empty, or holding only a
    run's own files. A checkpoint there needs resume=True; a model, or other files, overwrite=True (the
    model is then replaced at the end of the run and the other files are kept). Never the folder of the
    model trained (`sources`: models by name, path or object). See twinbert.formats.model_folder."""
    output = Path(output)
    check_not_source(output, source_folders(*sources))
    if output.is_dir() and (output / checkpoint.FOLDER).exists():
        if not resume:
            raise InputError(f"{output}: holds a training checkpoint; pass resume=True to continue it, "
                             "or choose another folder", argument="resume")
    elif not resume:
        check_target(output, overwrite=overwrite, model_ok=False, ignore=RUN_FILES)
    return output


class RunLog:
    """train_log.jsonl, written by the main process only (the others hold a closed log): each row is
    flushed at once, so a killed run's log holds every step it took."""

    def __init__(self, output: Path, is_main: bool):
        self.file = open(output / LOG_FILE, "a", encoding="utf-8") if is_main else None

    def write(self, row: dict) -> None:
        if self.file is not None:
            self.file.write(json.dumps(row, ensure_ascii=False) + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def read_log(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def truncate_log(path: Path, step: int) -> None:
    """Drop log rows written after the checkpoint being resumed (the resumed run writes them again)."""
    rows = [r for r in read_log(path) if r.get("step", 0) <= step]
    with atomic_file(path, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def keep_best(output: Path, save_model: Callable[[Path], None]) -> None:
    """Save the model as the run's best so far (published at the end)."""
    with atomic_folder(output / BEST_FOLDER, "best model") as tmp:
        save_model(tmp)


def publish(output: Path, save_model: Callable[[Path], None], has_eval: bool) -> None:
    """Publish the model (the best one with an evaluator, else the last) at the top of `output`, then
    draw the learning curve."""
    from ..plots import learning_curve

    best = output / BEST_FOLDER
    if not has_eval:
        with atomic_folder(best, "model") as tmp:
            save_model(tmp)
    if best.is_dir():  # else a resumed run found no new best: the published model is still the best
        install(best, output)
        shutil.rmtree(best)
    try:
        learning_curve(read_log(output / LOG_FILE), output / CURVE_FILE)
    except MissingExtraError as e:  # matplotlib missing: the numbers are in the log
        log.warning("no learning curve plot: %s", e)


def write_card(output: Path, text: str) -> None:
    with atomic_file(output / "README.md", "w", encoding="utf-8") as fh:
        fh.write(text)
