"""Resumable training state: one folder `checkpoint/` in the output folder, written atomically.

It holds everything an exact resume needs: model and loss weights, optimizer and scheduler state,
the RNG states (dropout) and the data position (epoch, micro-batch group) next to run.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import InputError
from ..formats.atomic import atomic_folder

FOLDER = "checkpoint"
STATE = "state.pt"


def save(output: Path, state: dict) -> None:
    with atomic_folder(output / FOLDER, "checkpoint") as tmp:
        torch.save(state, tmp / STATE)


def load(output: Path, device) -> dict:
    path = output / FOLDER / STATE
    if not path.is_file():
        raise InputError(f"--resume: {path} not found; there is no checkpoint to resume in {output} "
                         "(start without --resume)")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # a torn or foreign file: the same message whatever torch raised
        raise InputError(f"--resume: {path} is not a readable twinbert checkpoint ({type(e).__name__}: {e})") from e


def check_config(saved: dict, current: dict, may_change: tuple[str, ...]) -> None:
    """A resumed run must replay the same steps: only the fields in `may_change` may differ."""
    for key, value in saved.items():
        if key not in may_change and current.get(key) != value:
            raise InputError(f"--resume: {key} was {value!r} in the interrupted run but is {current.get(key)!r} now; "
                             f"resume with the same settings (only {', '.join(may_change)} may change)")


def get_rng() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
