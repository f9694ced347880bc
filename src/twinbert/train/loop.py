"""The training loop: short enough to read in one sitting, every knob in TrainConfig.

fit() optimises one model on one or more objectives (each a dataset with its loss), taking their
batches in turn (round robin). Per optimizer step: `grad_accum` micro-batches, gradients averaged
over data-parallel processes, clipped, AdamW, linear warm-up then linear decay. Every `eval_every`
steps (default: each epoch end) the evaluator runs; the best model is kept, patience stops early,
and a dev score falling evaluation after evaluation is reported. Every checkpoint holds the model,
optimizer, scheduler, RNG and data position, so `resume=True` continues exactly where a killed run
stopped, and only that run (same model, data, losses: checkpoint.check_run); the log and card of a
resumed run say at which step it resumed and how many steps it ran itself. A killed run's temps are
removed by the next run into the same folder. Output folder: the model (best, or last without an
evaluator) at its top level, the JSONL log, the learning curve PNG and the model card.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError, OutputError
from ..formats.atomic import atomic_file, atomic_folder, clean_stale
from ..formats.model_folder import check_target, install
from ..progress import Progress
from . import checkpoint, distributed
from .objective import Objective

log = logging.getLogger("twinbert")

LOG_FILE = "train_log.jsonl"
CURVE_FILE = "learning_curve.png"
BEST_FOLDER = ".best-model"
RUN_FILES = (LOG_FILE, CURVE_FILE, checkpoint.FOLDER)  # a run's own files, not the user's (see check_output)


@dataclass
class TrainConfig:
    epochs: int = 1
    max_steps: int | None = None         # stop after this many optimizer steps (overrides epochs)
    batch_size: int = 16                 # examples per micro-batch, over all processes together
    lr: float = 2e-5
    head_lr: float | None = None         # lr of the loss's own weights (softmax classifier); None: lr
    warmup: float = 0.1                  # fraction of the steps with a linear warm-up
    weight_decay: float = 0.01           # AdamW; not applied to biases and LayerNorm weights
    max_grad_norm: float | None = 1.0    # gradient clipping (None: off)
    grad_accum: int = 1                  # micro-batches per optimizer step
    precision: str = "float32"           # or "bfloat16" (autocast)
    seed: int = 42
    length_grouped: bool = True          # batches of similar token length (less padding)
    eval_every: int | None = None        # steps between evaluations (None: at each epoch end)
    checkpoint_every: int | None = None  # steps between resumable checkpoints (None: with each evaluation)
    patience: int | None = None          # stop after this many evaluations without a new best
    decline_warning: int = 3             # warn when the dev score fell this many evaluations in a row
    log_every: int = 10
    keep_checkpoint: bool = False        # keep checkpoint/ (optimizer state) once the run has finished

    def check(self) -> None:
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "grad_accum": self.grad_accum,
                    "log_every": self.log_every, "decline_warning": self.decline_warning}
        for name in ("max_steps", "eval_every", "checkpoint_every", "patience"):
            if getattr(self, name) is not None:
                positive[name] = getattr(self, name)
        for name, value in positive.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} = {value!r}: expected a positive whole number", argument=name)
        for name in ("lr", "head_lr"):
            value = getattr(self, name)
            if (name == "lr" or value is not None) and not (
                    isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
                raise InputError(f"{name} = {value!r}: expected a positive number, e.g. 2e-5", argument=name)
        if not 0 <= self.warmup < 1:
            raise InputError(f"warmup = {self.warmup!r}: expected a fraction of the steps in [0, 1), e.g. 0.1",
                             argument="warmup")
        if self.precision not in ("float32", "bfloat16"):
            raise InputError(f"precision = {self.precision!r}: expected float32 or bfloat16", argument="precision")


# fields a resumed run may change without breaking the replay of the steps already taken
RESUME_MAY_CHANGE = ("epochs", "max_steps", "eval_every", "checkpoint_every", "patience", "decline_warning",
                     "log_every", "keep_checkpoint")


@dataclass
class TrainResult:
    output: Path
    steps: int
    epochs_done: float
    seconds: float
    examples_per_s: float
    best_step: int | None = None
    best_metrics: dict = field(default_factory=dict)
    final_metrics: dict = field(default_factory=dict)
    stopped_early: bool = False
    warnings: list[str] = field(default_factory=list)
    main_metric: str | None = None
    total_steps: int | None = None       # the schedule's length
    resumed_at: int | None = None        # the checkpoint's step, when this run continued one
    steps_run: int | None = None         # steps taken by this run (steps - resumed_at); seconds and speed are its


@dataclass
class _Tracker:
    """Evaluation history: best score, patience and decline counters (part of every checkpoint)."""
    best: float | None = None
    best_step: int | None = None
    best_metrics: dict = field(default_factory=dict)
    last_metrics: dict = field(default_factory=dict)
    history: list = field(default_factory=list)   # (step, main score)
    since_best: int = 0
    falling: int = 0
    warnings: list = field(default_factory=list)

    def update(self, step: int, metrics: dict, main: str, decline_warning: int) -> tuple[bool, str | None]:
        score = float(metrics[main])
        previous = self.history[-1][1] if self.history else None
        self.history.append((step, score))
        self.last_metrics = dict(metrics)
        improved = self.best is None or score > self.best
        if improved:
            self.best, self.best_step, self.best_metrics, self.since_best = score, step, dict(metrics), 0
        else:
            self.since_best += 1
        self.falling = self.falling + 1 if previous is not None and score < previous else 0
        warning = None
        if self.falling >= decline_warning:
            scores = " -> ".join(f"{s:.4f}" for _, s in self.history[-self.falling - 1:])
            warning = (f"dev {main} fell {self.falling} evaluations in a row ({scores}): the model is probably "
                       f"over-fitting; the best model (step {self.best_step}, {self.best:.4f}) is the one kept. "
                       "Consider fewer epochs, a lower lr or early stopping (patience).")
            self.warnings.append(warning)
        return improved, warning


def _param_groups(params: list[tuple[str, nn.Parameter]], heads: set[int], config: TrainConfig) -> list[dict]:
    """AdamW groups: weight decay except on biases and LayerNorm weights; loss heads (ids in `heads`)
    at head_lr."""
    groups = []
    for in_head in (False, True):
        lr = (config.head_lr or config.lr) if in_head else config.lr
        mine = [(n, p) for n, p in params if (id(p) in heads) == in_head]
        no_decay = [p for n, p in mine if p.ndim < 2 or "LayerNorm" in n or "layer_norm" in n]
        ids = {id(p) for p in no_decay}
        groups += [{"params": [p for _, p in mine if id(p) not in ids], "weight_decay": config.weight_decay, "lr": lr},
                   {"params": no_decay, "weight_decay": 0.0, "lr": lr}]
    return [g for g in groups if g["params"]]


def _schedule(total: int, warmup_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total - step) / max(1, total - warmup_steps))
    return factor


def _epoch_plan(objectives: list[Objective], config: TrainConfig, epoch: int) -> list[tuple[int, list[int]]]:
    """(objective index, rows) of every micro-batch of `epoch`, taking the objectives in turn."""
    plans = [o.plan(config.seed * 1_000_003 + epoch * 1_009 + k, config.batch_size, config.length_grouped)
             for k, o in enumerate(objectives)]
    merged = []
    for turn in range(max(len(p) for p in plans)):
        merged.extend((k, p[turn]) for k, p in enumerate(plans) if turn < len(p))
    return merged


def fit(model: nn.Module, objectives: list[Objective], config: TrainConfig, output: str | Path, *,
        save_model: Callable[[Path], None], evaluate: Callable[[], dict] | None = None,
        main_metric: str | None = None, card: Callable[[TrainResult], str] | None = None,
        resume: bool = False, device: torch.device | str | None = None, show_progress: bool = True,
        run: dict | None = None) -> TrainResult:
    """Train `model` on `objectives`; see the module docstring. `save_model(folder)` writes a loadable
    model into an existing empty folder; `evaluate()` returns a metrics dict holding `main_metric`;
    `card(result)` returns the model card text (README.md). `run` (checkpoint.run_identity): what the run
    trains, kept in every checkpoint; a resume with another model, other data or other losses is refused."""
    config.check()
    if not objectives or any(len(o) == 0 for o in objectives):
        raise InputError("nothing to train on: a training dataset has no rows")
    if evaluate is not None and not main_metric:
        raise InputError("an evaluator needs the name of its main metric")
    output = Path(output)
    dist = distributed.current()
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    for o in objectives:
        o.to(device)

    params, seen = [], set()
    for owner in [model, *objectives]:
        for name, p in owner.named_parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                params.append((name, p))
    # the fused kernel: one pass over all parameters (the unfused update is ~40 % of a CPU step)
    heads = {id(p) for o in objectives for p in o.parameters()} - {id(p) for p in model.parameters()}
    optimizer = torch.optim.AdamW(_param_groups(params, heads, config), lr=config.lr,
                                  fused=device.type in ("cpu", "cuda"))
    per_epoch = math.ceil(len(_epoch_plan(objectives, config, 0)) / config.grad_accum)
    total = min(config.max_steps or per_epoch * config.epochs, per_epoch * config.epochs)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(total, math.ceil(config.warmup * total)))
    tracker = _Tracker()
    step, start_epoch, start_group, resumed_at = 0, 0, 0, None

    if dist.is_main:
        output.mkdir(parents=True, exist_ok=True)
        stale = clean_stale(output)  # a killed run's temps: never a result, never resumed from
        if stale:
            log.info("removed what an interrupted run left in %s: %s", output, ", ".join(stale))
    dist.barrier()
    if resume:
        state = checkpoint.load(output, device)
        if run is not None:
            checkpoint.check_run(state.get("run"), run)
        checkpoint.check_config(state["config"], dataclasses.asdict(config), RESUME_MAY_CHANGE)
        model.load_state_dict(state["model"])
        for o, s in zip(objectives, state["objectives"]):
            o.load_state_dict(s)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        checkpoint.set_rng(state["rng"])
        step, start_epoch, start_group = (state["position"][k] for k in ("step", "epoch", "group"))
        tracker = _Tracker(**state["tracker"])
        resumed_at = step
        if dist.is_main:
            _truncate_log(output / LOG_FILE, step)
            log.info("resuming at step %d of %d (epoch %d)", step, total, start_epoch + 1)
    else:
        torch.manual_seed(config.seed)
        if dist.is_main:
            (output / LOG_FILE).unlink(missing_ok=True)
            shutil.rmtree(output / checkpoint.FOLDER, ignore_errors=True)

    log_file = open(output / LOG_FILE, "a", encoding="utf-8") if dist.is_main else None

    def record(row: dict) -> None:
        if log_file is not None:
            log_file.write(json.dumps(row, ensure_ascii=False) + "\n")
            log_file.flush()

    if resumed_at is not None:  # the rows before this one were written by the interrupted run
        record({"event": "resume", "step": step, "total_steps": total})

    def run_eval() -> bool:
        """Evaluate (main process), keep the best model; returns True when patience says stop."""
        stop = False
        if dist.is_main:
            model.eval()
            with torch.inference_mode():
                metrics = evaluate()
            model.train()
            if main_metric not in metrics:
                raise InputError(f"the evaluator gave no {main_metric!r} (it gave {', '.join(metrics)})")
            improved, warning = tracker.update(step, metrics, main_metric, config.decline_warning)
            record({"event": "eval", "step": step, "epoch": round(step / per_epoch, 4), "metrics": metrics,
                    "main_metric": main_metric, "best": improved})
            log.info("step %d: %s = %.4f%s", step, main_metric, metrics[main_metric], " (best)" if improved else "")
            if improved:
                with atomic_folder(output / BEST_FOLDER, "best model") as tmp:
                    save_model(tmp)
            if warning:
                log.warning(warning)
                record({"event": "warning", "step": step, "message": warning})
            stop = config.patience is not None and tracker.since_best >= config.patience
        return dist.broadcast_flag(stop)

    def save_checkpoint(epoch: int, group: int) -> None:
        if dist.is_main:
            checkpoint.save(output, {
                "model": model.state_dict(), "objectives": [o.state_dict() for o in objectives],
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "rng": checkpoint.get_rng(), "position": {"step": step, "epoch": epoch, "group": group},
                "tracker": dataclasses.asdict(tracker), "config": dataclasses.asdict(config), "run": run})
            record({"event": "checkpoint", "step": step})
        dist.barrier()

    autocast = (torch.autocast(device_type=device.type, dtype=torch.bfloat16) if config.precision == "bfloat16"
                else contextlib.nullcontext())
    progress = Progress(total, "train", enabled=show_progress and dist.is_main, unit="steps")
    progress.done = step
    eval_every = config.eval_every or per_epoch
    checkpoint_every = config.checkpoint_every or eval_every
    started, train_seconds, examples, window_loss, window_n = time.perf_counter(), 0.0, 0, 0.0, 0
    stopped_early = False
    model.train()
    try:
        for epoch in range(start_epoch, config.epochs):
            plan = _epoch_plan(objectives, config, epoch)
            groups = [plan[s:s + config.grad_accum] for s in range(0, len(plan), config.grad_accum)]
            for g in range(start_group if epoch == start_epoch else 0, len(groups)):
                if step >= total:
                    break
                group = groups[g]
                tick = time.perf_counter()
                step_loss = 0.0
                for k, rows in group:
                    mine = dist.shard(rows)
                    if not mine:
                        continue
                    with autocast:
                        loss = objectives[k].loss(mine)
                    if not torch.isfinite(loss):
                        raise InputError(f"the loss became {loss.item()} at step {step + 1} (objective "
                                         f"{objectives[k].name}); lower the lr or check the data")
                    (loss * (len(mine) / len(rows)) / len(group)).backward()
                    step_loss += loss.item() * len(mine) / len(rows) / len(group)
                    examples += len(mine)
                dist.all_reduce_grads([p for _, p in params])
                if config.max_grad_norm:
                    nn.utils.clip_grad_norm_([p for _, p in params], config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                train_seconds += time.perf_counter() - tick
                progress.update(1)
                window_loss += dist.mean(step_loss)
                window_n += 1
                if step % config.log_every == 0 or step == total:
                    record({"event": "train", "step": step, "epoch": round(step / per_epoch, 4),
                            "loss": window_loss / window_n, "lr": scheduler.get_last_lr()[0],
                            "examples_per_s": round(examples * dist.world / max(train_seconds, 1e-9), 2)})
                    window_loss, window_n = 0.0, 0
                at_end = g == len(groups) - 1 or step == total
                if evaluate is not None and (step % eval_every == 0 or at_end):
                    stopped_early = run_eval()
                if step % checkpoint_every == 0 or at_end or stopped_early:
                    following = (epoch, g + 1) if g + 1 < len(groups) else (epoch + 1, 0)
                    save_checkpoint(*following)
                if stopped_early:
                    break
            if stopped_early or step >= total:
                break
        record({"event": "end", "step": step, "total_steps": total, "resumed_at": resumed_at,
                "steps_run": step - (resumed_at or 0), "seconds": round(time.perf_counter() - started, 2)})
    finally:
        progress.close()
        if log_file is not None:
            log_file.close()
    seconds = time.perf_counter() - started
    result = TrainResult(output, step, round(step / per_epoch, 4), round(seconds, 2),
                         round(examples * dist.world / max(train_seconds, 1e-9), 2), tracker.best_step,
                         tracker.best_metrics, tracker.last_metrics, stopped_early, list(tracker.warnings), main_metric,
                         total, resumed_at, step - (resumed_at or 0))
    if dist.is_main and resumed_at is not None:
        log.info("resumed at step %d of %d; ran %d steps", resumed_at, total, result.steps_run)
    if dist.is_main:
        _finish(output, model, save_model, result, card, evaluate is not None)
        if not config.keep_checkpoint:
            shutil.rmtree(output / checkpoint.FOLDER, ignore_errors=True)
        if stopped_early:
            log.info("early stop at step %d: no new best %s in %d evaluations", step, main_metric, config.patience)
    dist.barrier()
    return result


def _finish(output: Path, model, save_model, result: TrainResult, card, has_eval: bool) -> None:
    """Publish the model (the best one with an evaluator, else the last) at the top of `output`, then
    the learning curve and the model card."""
    best = output / BEST_FOLDER
    if not has_eval:
        with atomic_folder(best, "model") as tmp:
            save_model(tmp)
    if best.is_dir():  # else a resumed run found no new best: the published model is still the best
        install(best, output)
        shutil.rmtree(best)
    from ..plots import learning_curve

    rows = read_log(output / LOG_FILE)
    try:
        learning_curve(rows, output / CURVE_FILE)
    except OutputError as e:  # matplotlib missing: the numbers are in the log
        log.warning("no learning curve plot: %s", e)
    if card is not None:
        with atomic_file(output / "README.md", "w", encoding="utf-8") as fh:
            fh.write(card(result))


def check_output(output, resume: bool, overwrite: bool = False) -> Path:
    """The output folder of a training run, checked before any work: missing, empty, or holding only a
    run's own files. A checkpoint there needs resume=True; a model, or other files, overwrite=True (the
    model is then replaced at the end of the run and the other files are kept). See
    twinbert.formats.model_folder."""
    output = Path(output)
    if output.is_dir() and (output / checkpoint.FOLDER).exists():
        if not resume:
            raise InputError(f"{output}: holds a training checkpoint; pass resume=True to continue it, "
                             "or choose another folder", argument="resume")
    elif not resume:
        check_target(output, overwrite=overwrite, model_ok=False, ignore=RUN_FILES)
    return output


def read_log(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _truncate_log(path: Path, step: int) -> None:
    """Drop log rows written after the checkpoint being resumed (the resumed run writes them again)."""
    rows = [r for r in read_log(path) if r.get("step", 0) <= step]
    with atomic_file(path, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
