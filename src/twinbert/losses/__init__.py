"""Training losses, one per file, listed in REGISTRY; `build_loss` makes one from its name (the `loss` of a
TrainSpec). A new loss is its file (a Loss subclass declaring name, summary, columns and label_kind, its
options as constructor arguments named like build_loss's) plus its line in REGISTRY."""
from __future__ import annotations

import inspect

from ..errors import InputError
from ._base import Loss
from .contrastive import ContrastiveLoss
from .cosent import CoSENTLoss
from .cosine import CosineSimilarityLoss
from .matryoshka import MatryoshkaLoss
from .mse import MSELoss
from .multiple_negatives import MultipleNegativesRankingLoss
from .softmax import SoftmaxLoss
from .triplet import TripletLoss

# the registry: every loss `--loss` can name, in the order --help lists them; each class carries its
# name, its one-line summary and its label kind
REGISTRY = (SoftmaxLoss, CosineSimilarityLoss, TripletLoss, MultipleNegativesRankingLoss, CoSENTLoss, ContrastiveLoss,
            MSELoss)
LOSSES = {cls.name: cls.summary for cls in REGISTRY}
ALIASES = {"multiple-negatives": "mnrl", "multiple_negatives": "mnrl", "cosine-similarity": "cosine",
           "distill": "mse", "distillation": "mse"}


def loss_name(name: str) -> str:
    """The registry's name of loss `name` (an alias, any case); an InputError naming the known ones."""
    key = ALIASES.get(str(name).strip().lower(), str(name).strip().lower())
    if key not in LOSSES:
        raise InputError(f"loss {name!r}: unknown; expected one of {', '.join(LOSSES)}", argument="loss")
    return key


def loss_class(name: str) -> type[Loss]:
    """The class of loss `name`: what it is (label_kind, columns) before one is built."""
    key = loss_name(name)
    return next(cls for cls in REGISTRY if cls.name == key)


def build_loss(name: str, *, dimension: int, num_labels: int | None = None, margin: float | None = None,
               distance: str | None = None, scale: float | None = None, concat_product: bool = False,
               matryoshka: list[int] | None = None) -> Loss:
    """The loss `name` with its options (None = the loss's default)."""
    cls = loss_class(name)
    key = cls.name
    if cls.label_kind == "class" and (not num_labels or num_labels < 2):
        raise InputError(f"loss {key!r} needs labelled data with at least 2 classes", argument="loss")
    too_big = [d for d in matryoshka or [] if d > dimension]
    if too_big:
        raise InputError(f"matryoshka {too_big[0]}: larger than the embedding dimension {dimension}",
                         argument="matryoshka")
    options = {"dimension": dimension, "num_labels": num_labels, "margin": margin, "distance": distance,
               "scale": scale, "concat_product": concat_product}
    accepted = inspect.signature(cls).parameters  # each loss takes the options it has; unset ones keep its defaults
    try:
        loss = cls(**{k: v for k, v in options.items() if k in accepted and v is not None})
        if matryoshka:
            loss = MatryoshkaLoss(loss, matryoshka)
    except InputError as e:  # a loss refused its options: name the loss, and build_loss's argument
        argument = "matryoshka" if e.argument in ("dims", "weights") else e.argument
        raise InputError(f"loss {key}: {e}", argument=argument) from None
    return loss


__all__ = ["Loss", "LOSSES", "REGISTRY", "build_loss", "loss_class", "loss_name", "SoftmaxLoss",
           "CosineSimilarityLoss", "TripletLoss", "MultipleNegativesRankingLoss", "CoSENTLoss", "ContrastiveLoss", "MSELoss", "MatryoshkaLoss"]
