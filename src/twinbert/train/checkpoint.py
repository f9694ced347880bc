"""Resumable training state: one folder `checkpoint/` in the output folder, written atomically.

It holds everything an exact resume needs: model and loss weights, optimizer state, the RNG states
(dropout, masking) and the run's Position (where in the data the next step starts, and the evaluation
history: best score, patience and decline counters). The learning rate is a function of the step, so it
needs no state of its own. It also holds
what the run trains (`run_identity`: the model it started from, every data file with its sha256 and
a digest of the rows used, the losses and labels): a resume that would continue those weights on
other data, another model or another loss is refused, naming what changed (`check_run`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import InputError
from ..formats.atomic import atomic_folder

log = logging.getLogger("twinbert")

FOLDER = "checkpoint"
STATE = "state.pt"


@dataclass
class Position:
    """Where a run stands: exactly the `position` record of its checkpoints, from which a resumed run
    goes on. The data position is the NEXT optimizer step's: group `group` of epoch `epoch` (a group is
    grad_accum micro-batches of that epoch's plan, see twinbert.train.loop)."""
    step: int = 0                   # optimizer steps taken
    epoch: int = 0                  # the epoch of the next step
    group: int = 0                  # the next step's micro-batch group in that epoch
    best: float | None = None       # the best main-metric score so far
    best_step: int | None = None    # the step it was reached at (the model kept as the best)
    best_metrics: dict = field(default_factory=dict)
    last_metrics: dict = field(default_factory=dict)
    history: list = field(default_factory=list)   # (step, main score) of every evaluation
    since_best: int = 0             # evaluations since the best (patience)
    falling: int = 0                # evaluations in a row whose score fell (decline warning)
    warnings: list = field(default_factory=list)

    @classmethod
    def of(cls, state: dict) -> Position:
        # checkpoints written before issue 12 kept the evaluation history apart, as "tracker"
        return cls(**state["position"], **state.get("tracker", {}))

    def advance(self, groups: int) -> None:
        """One optimizer step taken; `groups`: the steps of the current epoch."""
        self.step += 1
        self.group += 1
        if self.group == groups:
            self.epoch, self.group = self.epoch + 1, 0

    def record(self, metrics: dict, main: str, decline_warning: int) -> tuple[bool, str | None]:
        """Add an evaluation at this step: (a new best?, the over-fitting warning when the main score fell
        `decline_warning` evaluations in a row)."""
        score = float(metrics[main])
        previous = self.history[-1][1] if self.history else None
        self.history.append((self.step, score))
        self.last_metrics = dict(metrics)
        improved = self.best is None or score > self.best
        if improved:
            self.best, self.best_step, self.best_metrics, self.since_best = score, self.step, dict(metrics), 0
        else:
            self.since_best += 1
        self.falling = self.falling + 1 if previous is not None and score < previous else 0
        if self.falling < decline_warning:
            return improved, None
        scores = " -> ".join(f"{s:.4f}" for _, s in self.history[-self.falling - 1:])
        warning = (f"dev {main} fell {self.falling} evaluations in a row ({scores}): the model is probably "
                   f"over-fitting; the best model (step {self.best_step}, {self.best:.4f}) is the one kept. "
                   "Consider fewer epochs, a lower lr or early stopping (patience).")
        self.warnings.append(warning)
        return improved, warning


def save(output: Path, state: dict) -> None:
    with atomic_folder(output / FOLDER, "checkpoint") as tmp:
        torch.save(state, tmp / STATE)


def load(output: Path, device) -> dict:
    path = output / FOLDER / STATE
    if not path.is_file():
        raise InputError(f"resume=True: {path} not found; there is no checkpoint to continue in {output} "
                         "(start without resume=True)", argument="resume")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # a torn or foreign file: the same message whatever torch raised
        raise InputError(f"resume=True: {path} is not a readable twinbert checkpoint ({type(e).__name__}: {e})",
                         argument="resume") from e


def check_config(saved: dict, current: dict, may_change: tuple[str, ...]) -> None:
    """A resumed run must replay the same steps: only the fields in `may_change` may differ."""
    for key, value in saved.items():
        if key not in may_change and current.get(key) != value:
            raise InputError(f"resume=True: {key} was {value!r} in the interrupted run but is {current.get(key)!r} "
                             f"now; continue with the same settings (only {', '.join(may_change)} may change)",
                             argument="resume")


# ------------------------------------------------------------------ what a run trains
def model_id(model) -> str:
    """The model a run starts from: a local folder as its absolute path, else its name."""
    name = model if isinstance(model, (str, os.PathLike)) else getattr(model, "name", None) or type(model).__name__
    path = Path(name)
    return str(path.resolve()) if path.exists() else str(name)


def data_record(data, role: str = "train") -> dict:
    """Where a run's data came from, for the model card and the resume check: the file (absolute path and
    sha256 of its bytes) and the rows used (count and a sha256 of their content, which another column
    choice, limit or skip_bad_rows changes). `data`: a Dataset, a list of examples or a list of texts."""
    examples = [data] if isinstance(data, str) else data.examples if hasattr(data, "examples") else list(data)
    name, split, path = getattr(data, "name", None), getattr(data, "split", None), getattr(data, "path", None)
    record = {"role": role, "name": f"{name}/{split}" if name and split else str(name or "examples"),
              "path": str(Path(path).resolve()) if path else None, "sha256": None, "rows": len(examples)}
    if path:
        try:
            record["sha256"] = data.sha256
        except (OSError, AttributeError, TypeError):
            pass
    digest = hashlib.sha256()
    for example in examples:  # sorted keys and sets: the same rows give the same digest in every process
        fields = vars(example) if hasattr(example, "__dict__") else example
        digest.update(json.dumps(fields, sort_keys=True, default=_plain, ensure_ascii=False).encode("utf-8") + b"\n")
    record["content_sha256"] = digest.hexdigest()
    return record


def _plain(value):
    return sorted(value) if isinstance(value, (set, frozenset)) else str(value)  # numpy numbers, paths ...


def run_identity(model, data: list[dict], evals: list[dict] = (), **training) -> dict:
    """What a run trains, stored in its checkpoint: the model it starts from, its data records
    (data_record) and the training settings that shape the weights (losses and their options, labels)."""
    return {"model": model_id(model), "data": list(data), "eval data": list(evals), **training}


_COMPARED = ("path", "sha256", "rows", "content_sha256")


def _data_change(kind: str, old: list[dict], new: list[dict]) -> str | None:
    if len(old) != len(new):
        return f"the run had {len(old)} {kind} sets, this one has {len(new)}"
    for k, (a, b) in enumerate(zip(old, new), 1):
        if all(a.get(f) == b.get(f) for f in _COMPARED):
            continue
        which = f"{kind} {k}" if len(old) > 1 else kind
        if a.get("path") != b.get("path"):
            return (f"{which} was {a.get('path') or a.get('name')} in the interrupted run but is "
                    f"{b.get('path') or b.get('name')} now")
        if a.get("sha256") != b.get("sha256"):
            return (f"{which} {a['path']} changed since the interrupted run (sha256 {str(a['sha256'])[:12]} then, "
                    f"{str(b['sha256'])[:12]} now)")
        return (f"{which} {a.get('path') or a.get('name')} gives other rows than in the interrupted run "
                f"({a.get('rows')} rows, content sha256 {str(a.get('content_sha256'))[:12]} then; {b.get('rows')} "
                f"rows, {str(b.get('content_sha256'))[:12]} now: other columns, limit or skipped rows?)")
    return None


def _change(key: str, old, new) -> str:
    """'losses 2: loss was 'cosine' in the interrupted run but is 'cosent' now' (the first difference)."""
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new) and \
            all(isinstance(x, dict) for x in old + new):
        k, (a, b) = next((k, p) for k, p in enumerate(zip(old, new), 1) if p[0] != p[1])
        field = next(f for f in list(a) + list(b) if a.get(f) != b.get(f))
        return f"{key} {k}: {field} was {a.get(field)!r} in the interrupted run but is {b.get(field)!r} now"
    return f"{key} was {old!r} in the interrupted run but is {new!r} now"


def check_run(saved: dict | None, current: dict) -> None:
    """Refuse to continue a checkpoint on another model, other data, other losses or labels: the first
    difference is an InputError naming its value in the interrupted run and now."""
    if saved is None:  # a checkpoint written before runs were recorded: nothing to compare
        log.warning("the checkpoint does not record its model and data (an older twinbert): they are not checked")
        return
    for key in list(current) + [k for k in saved if k not in current]:
        old, new = saved.get(key), current.get(key)
        if old == new:
            continue
        if key in ("data", "eval data") and isinstance(old, list) and isinstance(new, list):
            change = _data_change("training data" if key == "data" else "evaluation data", old, new)
            if change is None:  # only names or roles differ: the same files and rows
                continue
        else:
            change = _change(key, old, new)
        raise InputError(f"resume=True: {change}; continue with the same {key}, or train into a new output "
                         "folder", argument="resume")


# ------------------------------------------------------------------ random state
def get_rng() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
