"""Training losses, one per file; `build_loss` makes one from its name (the `loss` of a TrainSpec)."""
from __future__ import annotations

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

LOSSES = {
    "softmax": "classification over (u, v, |u-v|) with cross-entropy: NLI labels",
    "cosine": "MSE between cos(u, v) and the gold score scaled to [0, 1]: STS scores",
    "triplet": "max(d(a,p) - d(a,n) + margin, 0): (anchor, positive, negative) triplets",
    "mnrl": "multiple-negatives ranking with in-batch negatives (+ hard negatives): pairs or triplets",
    "cosent": "CoSENT ranking of pairs by gold score: STS scores",
    "contrastive": "contrastive loss on 0/1 labelled pairs",
    "mse": "MSE to teacher embeddings (distillation; two columns = source, translation)",
}
ALIASES = {"multiple-negatives": "mnrl", "multiple_negatives": "mnrl", "cosine-similarity": "cosine",
           "distill": "mse", "distillation": "mse"}


def loss_name(name: str) -> str:
    key = ALIASES.get(str(name).strip().lower(), str(name).strip().lower())
    if key not in LOSSES:
        raise InputError(f"loss {name!r}: unknown; expected one of {', '.join(LOSSES)}", argument="loss")
    return key


def build_loss(name: str, *, dimension: int, num_labels: int | None = None, margin: float | None = None,
               distance: str | None = None, scale: float | None = None, concat_product: bool = False,
               matryoshka: list[int] | None = None) -> Loss:
    """The loss `name` with its options (None = the loss's default)."""
    key = loss_name(name)
    if key == "softmax" and (not num_labels or num_labels < 2):
        raise InputError("loss 'softmax' needs labelled data with at least 2 classes", argument="loss")
    too_big = [d for d in matryoshka or [] if d > dimension]
    if too_big:
        raise InputError(f"matryoshka {too_big[0]}: larger than the embedding dimension {dimension}",
                         argument="matryoshka")
    try:
        if key == "softmax":
            loss = SoftmaxLoss(dimension, num_labels, concat_product=concat_product)
        elif key == "cosine":
            loss = CosineSimilarityLoss()
        elif key == "triplet":
            loss = TripletLoss(1.0 if margin is None else margin, distance or "euclidean")
        elif key == "mnrl":
            loss = MultipleNegativesRankingLoss(20.0 if scale is None else scale)
        elif key == "cosent":
            loss = CoSENTLoss(20.0 if scale is None else scale)
        elif key == "contrastive":
            loss = ContrastiveLoss(0.5 if margin is None else margin, distance or "cosine")
        else:
            loss = MSELoss()
        if matryoshka:
            loss = MatryoshkaLoss(loss, matryoshka)
    except InputError as e:  # a loss refused its options: name the loss, and build_loss's argument
        argument = "matryoshka" if e.argument in ("dims", "weights") else e.argument
        raise InputError(f"loss {key}: {e}", argument=argument) from None
    return loss


__all__ = ["Loss", "LOSSES", "build_loss", "loss_name", "SoftmaxLoss", "CosineSimilarityLoss", "TripletLoss",
           "MultipleNegativesRankingLoss", "CoSENTLoss", "ContrastiveLoss", "MSELoss", "MatryoshkaLoss"]
