"""TrainConfig: every knob of a training run, one line each with the comment that documents it.

The command line derives its trainer flags from these fields (--max-steps ...; the comment is the
flag's help) and config files use the same names, so a knob is added here and nowhere else. This
module imports nothing heavy: the CLI reads it to build its parser.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..errors import InputError

DEFAULT_LR = 2e-5  # Sentence-BERT's fine-tuning rate; a trainer may choose its own (the masked LM's is 5e-5)
PRECISIONS = ("float32", "bfloat16")


@dataclass
class TrainConfig:
    epochs: int = 1                      # passes over the training data
    max_steps: int | None = None         # stop after this many optimizer steps (overrides epochs)
    batch_size: int = 16                 # examples per micro-batch, over all processes together
    lr: float | None = None              # peak learning rate; unset: the trainer's default (2e-5; masked LM 5e-5)
    head_lr: float | None = None         # lr of the loss's own weights, e.g. a new softmax classifier; unset: lr
    warmup: float = 0.1                  # fraction of the steps with a linear warm-up
    weight_decay: float = 0.01           # AdamW's decoupled weight decay; not on biases and LayerNorm weights
    max_grad_norm: float | None = 1.0    # clip the gradient norm to this; 0 or None: off
    grad_accum: int = 1                  # micro-batches per optimizer step
    precision: str = "float32"           # float32, or bfloat16 (autocast)
    seed: int = 42                       # new heads' weights, dropout, batch order and masking
    length_grouped: bool = True          # batches of similar token length (less padding)
    eval_every: int | None = None        # steps between evaluations; unset: at each epoch end
    checkpoint_every: int | None = None  # steps between resumable checkpoints; unset: with each evaluation
    patience: int | None = None          # stop after this many evaluations without a new best
    decline_warning: int = 3             # warn when the dev score fell this many evaluations in a row
    log_every: int = 10                  # steps between the train rows of the log
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
            if value is not None and not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
                raise InputError(f"{name} = {value!r}: expected a positive number, e.g. 2e-5", argument=name)
        if not 0 <= self.warmup < 1:
            raise InputError(f"warmup = {self.warmup!r}: expected a fraction of the steps in [0, 1), e.g. 0.1",
                             argument="warmup")
        if self.precision not in PRECISIONS:
            raise InputError(f"precision = {self.precision!r}: expected float32 or bfloat16", argument="precision")

    def checked(self, default_lr: float = DEFAULT_LR) -> TrainConfig:
        """This config, checked, with lr set: its own, else `default_lr` (the trainer's default)."""
        self.check()
        return self if self.lr is not None else dataclasses.replace(self, lr=default_lr)


# fields a resumed run may change without breaking the replay of the steps already taken
RESUME_MAY_CHANGE = ("epochs", "max_steps", "eval_every", "checkpoint_every", "patience", "decline_warning",
                     "log_every", "keep_checkpoint")
