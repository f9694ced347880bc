"""The training loop: short enough to read in one sitting, every knob in TrainConfig (settings.py).

fit() optimises one model on one or more objectives (each a dataset with its loss), taking their
batches in turn (round robin). Per optimizer step: set the learning rate (linear warm-up, then linear
decay), `grad_accum` micro-batches forward and backward, gradients summed over data-parallel processes
and clipped, one AdamW step, a log row. Every `eval_every` steps (default: each epoch end) the
evaluator runs; the best model is kept, patience stops early, and a dev score falling evaluation after
evaluation is reported. Every checkpoint holds the model, optimizer, RNG and the run's Position, so
`resume=True` continues exactly where a killed run stopped, and only that run (same model, data, losses:
checkpoint.check_run); the log and card of a resumed run say at which step it resumed and how many
steps it ran itself. A killed run's temps are removed by the next run into the same folder. Output
folder: see twinbert.train.output.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from ..formats.atomic import clean_stale
from ..progress import Progress
from . import checkpoint, distributed
from .checkpoint import Position
from .objective import Objective
from .output import LOG_FILE, RunLog, keep_best, publish, truncate_log, write_card
from .settings import RESUME_MAY_CHANGE, TrainConfig

log = logging.getLogger("twinbert")


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


def fit(model: nn.Module, objectives: list[Objective], config: TrainConfig, output: str | Path, *,
        save_model: Callable[[Path], None], evaluate: Callable[[], dict] | None = None,
        main_metric: str | None = None, card: Callable[[TrainResult], str] | None = None,
        resume: bool = False, device: torch.device | str | None = None, show_progress: bool = True,
        run: dict | None = None) -> TrainResult:
    """Train `model` on `objectives`; see the module docstring. `save_model(folder)` writes a loadable
    model into an existing empty folder; `evaluate()` returns a metrics dict holding `main_metric`;
    `card(result)` returns the model card text (README.md). `run` (checkpoint.run_identity): what the run
    trains, kept in every checkpoint; a resume with another model, other data or other losses is refused."""
    config = config.checked()
    if not objectives or any(len(o) == 0 for o in objectives):
        raise InputError("nothing to train on: a training dataset has no rows")
    if evaluate is not None and not main_metric:
        raise InputError("an evaluator needs the name of its main metric")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    for module in (model, *objectives):
        module.to(device)
    weights = _trainable(model, objectives)
    optimizer = _optimizer(weights, model, objectives, config, device)
    per_epoch = math.ceil(len(_epoch_plan(objectives, config, 0)) / config.grad_accum)
    total = min(config.max_steps or per_epoch * config.epochs, per_epoch * config.epochs)
    lr_scale = _schedule(total, math.ceil(config.warmup * total))
    peak = [g["lr"] for g in optimizer.param_groups]  # each param group's peak lr
    session = _Session(model, objectives, optimizer, config, Path(output), save_model, evaluate, main_metric,
                       run, per_epoch, total)
    pos = session.start(resume, device)
    resumed_at = pos.step if resume else None
    grads = [p for _, p in weights]
    autocast = (torch.autocast(device_type=device.type, dtype=torch.bfloat16) if config.precision == "bfloat16"
                else contextlib.nullcontext())
    progress = Progress(total, "train", enabled=show_progress and session.dist.is_main, unit="steps")
    progress.done = pos.step
    eval_every = config.eval_every or per_epoch
    checkpoint_every = config.checkpoint_every or eval_every
    meter, groups, stopped = _Meter(), None, False
    model.train()
    try:
        while pos.step < total and pos.epoch < config.epochs and not stopped:
            if groups is None or pos.group == 0:
                groups = _step_groups(objectives, config, pos.epoch)
            tick = time.perf_counter()
            scale = lr_scale(pos.step)  # the lr
            for group, top in zip(optimizer.param_groups, peak):
                group["lr"] = top * scale
            loss, examples = _micro_steps(objectives, groups[pos.group], session.dist, autocast, pos.step)
            session.dist.all_reduce_grads(grads)  # gradients of the whole batch, in every process
            if config.max_grad_norm:  # clip
                nn.utils.clip_grad_norm_(grads, config.max_grad_norm)
            optimizer.step()  # step
            optimizer.zero_grad(set_to_none=True)
            pos.advance(len(groups))
            meter.add(examples, time.perf_counter() - tick, session.dist.sum(loss))
            progress.update(1)
            if pos.step % config.log_every == 0 or pos.step == total:  # log
                session.write(meter.row(pos.step, per_epoch, peak[0] * scale, session.dist.world))
            at_end = pos.group == 0 or pos.step == total  # of an epoch, or of the run
            if evaluate is not None and (pos.step % eval_every == 0 or at_end):  # evaluate, keep the best
                stopped = session.evaluate_and_keep_best(pos)
            if pos.step % checkpoint_every == 0 or at_end or stopped:  # checkpoint; then stop or go on
                session.checkpoint(pos)
        session.write({"event": "end", "step": pos.step, "total_steps": total, "resumed_at": resumed_at,
                       "steps_run": pos.step - (resumed_at or 0), "seconds": round(meter.elapsed(), 2)})
    finally:
        progress.close()
        session.log.close()
    result = TrainResult(Path(output), pos.step, round(pos.step / per_epoch, 4), round(meter.elapsed(), 2),
                         meter.speed(session.dist.world), pos.best_step, pos.best_metrics, pos.last_metrics,
                         stopped, list(pos.warnings), main_metric, total, resumed_at, pos.step - (resumed_at or 0))
    session.finish(result, card)
    return result


def merged_metrics(results) -> dict:
    """One metrics dict from (name, metrics) of several evaluation sets: the first set's under their own
    names (the main metric is one of them), each later set's prefixed with its name ("sts:test/spearman")."""
    metrics = {}
    for k, (name, found) in enumerate(results):
        prefix = "" if k == 0 else f"{name}/"
        metrics.update({prefix + m: float(v) for m, v in found.items()})
    return metrics


# ------------------------------------------------------------------ the pieces of a step
def _trainable(model: nn.Module, objectives: list[Objective]) -> list[tuple[str, nn.Parameter]]:
    """(name, parameter) of every weight to train: the model's, then the losses' own (each once)."""
    params, seen = [], set()
    for owner in [model, *objectives]:
        for name, p in owner.named_parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                params.append((name, p))
    return params


def _optimizer(params, model: nn.Module, objectives: list[Objective], config: TrainConfig,
               device: torch.device) -> torch.optim.AdamW:
    heads = {id(p) for o in objectives for p in o.parameters()} - {id(p) for p in model.parameters()}
    # fused: the update of every tensor of a param group in one kernel instead of a Python loop over the
    # tensors, which took ~40 % of a CPU step (measured when introduced); other devices have no fused kernel
    return torch.optim.AdamW(_param_groups(params, heads, config), lr=config.lr,
                             fused=device.type in ("cpu", "cuda"))


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
    """The lr of step `step` (0-based) as a fraction of the peak: linear warm-up, then linear decay to 0."""
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


def _step_groups(objectives: list[Objective], config: TrainConfig, epoch: int) -> list[list[tuple[int, list[int]]]]:
    """The micro-batches of each optimizer step of `epoch` (grad_accum of them; the last step may have fewer)."""
    plan = _epoch_plan(objectives, config, epoch)
    return [plan[s:s + config.grad_accum] for s in range(0, len(plan), config.grad_accum)]


def _micro_steps(objectives: list[Objective], group: list[tuple[int, list[int]]], dist: distributed.Dist,
                 autocast, step: int) -> tuple[float, int]:
    """Forward and backward of one step's micro-batches, each process on its share of every batch; the
    gradients add up to those of the mean loss over the group. Returns (this process's share of that
    loss, its examples)."""
    share, examples = 0.0, 0
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
        share += loss.item() * len(mine) / len(rows) / len(group)
        examples += len(mine)
    return share, examples


@dataclass
class _Meter:
    """This process's training time and examples, and the loss since the last log row. Not part of a
    checkpoint: a resumed run reports its own speed."""
    started: float = field(default_factory=time.perf_counter)
    examples: int = 0
    seconds: float = 0.0                 # inside steps only (not evaluations, checkpoints)
    loss: float = 0.0
    steps: int = 0

    def add(self, examples: int, seconds: float, loss: float) -> None:
        self.examples, self.seconds = self.examples + examples, self.seconds + seconds
        self.loss, self.steps = self.loss + loss, self.steps + 1

    def speed(self, world: int) -> float:
        return round(self.examples * world / max(self.seconds, 1e-9), 2)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def row(self, step: int, per_epoch: int, lr: float, world: int) -> dict:
        """The log row of `step`: the mean loss since the previous row, the lr of this step, the speed."""
        row = {"event": "train", "step": step, "epoch": round(step / per_epoch, 4), "loss": self.loss / self.steps,
               "lr": lr, "examples_per_s": self.speed(world)}
        self.loss, self.steps = 0.0, 0
        return row


# ------------------------------------------------------------------ one run's output, evaluation, checkpoints
@dataclass
class _Session:
    """What the loop's helpers share in one run (so that none closes over fit's locals)."""
    model: nn.Module
    objectives: list[Objective]
    optimizer: torch.optim.Optimizer
    config: TrainConfig
    output: Path
    save_model: Callable[[Path], None]
    evaluate: Callable[[], dict] | None
    main_metric: str | None
    identity: dict | None                # what the run trains (checkpoint.run_identity)
    per_epoch: int
    total: int
    dist: distributed.Dist = field(default_factory=distributed.current)
    log: RunLog | None = None

    def write(self, row: dict) -> None:
        self.log.write(row)

    def start(self, resume: bool, device: torch.device) -> Position:
        """Prepare the output folder and open the log: a fresh Position, or the checkpoint's with every
        weight, optimizer state and random state restored."""
        if self.dist.is_main:
            self.output.mkdir(parents=True, exist_ok=True)
            stale = clean_stale(self.output)  # a killed run's temps: never a result, never resumed from
            if stale:
                log.info("removed what an interrupted run left in %s: %s", self.output, ", ".join(stale))
        self.dist.barrier()
        pos = self._restore(device) if resume else self._fresh()
        self.log = RunLog(self.output, self.dist.is_main)
        if resume:  # the rows before this one were written by the interrupted run
            self.write({"event": "resume", "step": pos.step, "total_steps": self.total})
        return pos

    def _fresh(self) -> Position:
        torch.manual_seed(self.config.seed)
        if self.dist.is_main:
            (self.output / LOG_FILE).unlink(missing_ok=True)
            shutil.rmtree(self.output / checkpoint.FOLDER, ignore_errors=True)
        return Position()

    def _restore(self, device: torch.device) -> Position:
        state = checkpoint.load(self.output, device)
        if self.identity is not None:
            checkpoint.check_run(state.get("run"), self.identity)
        checkpoint.check_config(state["config"], dataclasses.asdict(self.config), RESUME_MAY_CHANGE)
        self.model.load_state_dict(state["model"])
        for o, s in zip(self.objectives, state["objectives"]):
            o.load_state_dict(s)
        self.optimizer.load_state_dict(state["optimizer"])
        checkpoint.set_rng(state["rng"])
        pos = Position.of(state)
        if self.dist.is_main:
            truncate_log(self.output / LOG_FILE, pos.step)
            log.info("resuming at step %d of %d (epoch %d)", pos.step, self.total, pos.epoch + 1)
        return pos

    def checkpoint(self, pos: Position) -> None:
        if self.dist.is_main:
            checkpoint.save(self.output, {
                "model": self.model.state_dict(), "objectives": [o.state_dict() for o in self.objectives],
                "optimizer": self.optimizer.state_dict(), "rng": checkpoint.get_rng(),
                "position": dataclasses.asdict(pos), "config": dataclasses.asdict(self.config), "run": self.identity})
            self.write({"event": "checkpoint", "step": pos.step})
        self.dist.barrier()

    def evaluate_and_keep_best(self, pos: Position) -> bool:
        """Evaluate (main process) and keep the best model; True, in every process, when patience says stop."""
        stop = False
        if self.dist.is_main:
            self.model.eval()
            with torch.inference_mode():
                metrics = self.evaluate()
            self.model.train()
            main = self.main_metric
            if main not in metrics:
                raise InputError(f"the evaluator gave no {main!r} (it gave {', '.join(metrics)})")
            improved, warning = pos.record(metrics, main, self.config.decline_warning)
            self.write({"event": "eval", "step": pos.step, "epoch": round(pos.step / self.per_epoch, 4),
                        "metrics": metrics, "main_metric": main, "best": improved})
            log.info("step %d: %s = %.4f%s", pos.step, main, metrics[main], " (best)" if improved else "")
            if improved:
                keep_best(self.output, self.save_model)
            if warning:
                log.warning(warning)
                self.write({"event": "warning", "step": pos.step, "message": warning})
            stop = self.config.patience is not None and pos.since_best >= self.config.patience
        return self.dist.broadcast_flag(stop)

    def finish(self, result: TrainResult, card: Callable[[TrainResult], str] | None) -> None:
        """Publish the model, curve and card; drop the checkpoint unless it is to be kept."""
        if self.dist.is_main:
            if result.resumed_at is not None:
                log.info("resumed at step %d of %d; ran %d steps", result.resumed_at, self.total, result.steps_run)
            publish(self.output, self.save_model, self.evaluate is not None)
            if card is not None:
                write_card(self.output, card(result))
            if not self.config.keep_checkpoint:
                shutil.rmtree(self.output / checkpoint.FOLDER, ignore_errors=True)
            if result.stopped_early:
                log.info("early stop at step %d: no new best %s in %d evaluations", result.steps, self.main_metric,
                         self.config.patience)
        self.dist.barrier()
