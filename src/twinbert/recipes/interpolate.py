"""Weight interpolation between a fine-tuned model and the base it was fine-tuned from (WiSE-FT:
Wortsman et al. 2022, "Robust fine-tuning of zero-shot models"):

    theta(a) = a * theta_finetuned + (1 - a) * theta_base,    0 <= a <= 1

a = 1 is the fine-tuned model, a = 0 the base. Fine-tuning on one task (STS) moves the weights away from
what the base did well elsewhere (e5's query/passage retrieval); a point on the line between them often
keeps most of both. Both models must share the architecture and the vocabulary (the recipe's trimmed
base and its fine-tuned stages do); the fine-tuned model's modules, prompts and settings are kept.
"""
from __future__ import annotations

import torch

from ..errors import InputError


class Interpolation:
    """The models on the line between `base` and `finetuned` (folders, names or SentenceEncoders):
    `at(a)` sets the fine-tuned encoder's backbone to theta(a) and returns it (one encoder, reused)."""

    def __init__(self, finetuned, base):
        from .. import SentenceEncoder, load

        self.encoder = finetuned if isinstance(finetuned, SentenceEncoder) else load(finetuned, backend="torch")
        base = base if isinstance(base, SentenceEncoder) else load(base, backend="torch")
        if self.encoder.tokenizer.get_vocab() != base.tokenizer.get_vocab():
            raise InputError(f"{base.name} and {self.encoder.name} have different vocabularies; interpolation "
                             "needs the base the model was fine-tuned from (the same tokens, in the same order)",
                             argument="base")
        self.finetuned = _float_state(self.encoder)
        self.base = _float_state(base)
        for key, value in self.finetuned.items():
            other = self.base.get(key)
            if other is None or other.shape != value.shape:
                raise InputError(f"{base.name} does not match {self.encoder.name} at tensor {key} (shape "
                                 f"{None if other is None else tuple(other.shape)} against {tuple(value.shape)}); "
                                 "interpolation needs the same architecture", argument="base")

    def at(self, alpha: float):
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
            raise InputError(f"alpha = {alpha!r}: expected a number from 0 (the base) to 1 (the fine-tuned model)",
                             argument="alpha")
        mixed = {k: torch.lerp(self.base[k], v, float(alpha)) if v.is_floating_point() else v
                 for k, v in self.finetuned.items()}
        self.encoder.transformer.model.load_state_dict(mixed)
        return self.encoder


def _float_state(encoder) -> dict[str, torch.Tensor]:
    """The backbone's tensors, floating ones in float32 (float16-stored models mix exactly there)."""
    return {k: v.detach().float().clone() if v.is_floating_point() else v.clone()
            for k, v in encoder.transformer.model.state_dict().items()}
