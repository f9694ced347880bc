"""Small pieces shared by the BERT head functions: input checks and a forward over the batching engine."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .. import batching
from ..errors import InputError
from ..modules.transformer import Tokenized, Transformer


def text_list(texts, name: str = "texts") -> list[str]:
    """One text or a list of texts -> a non-empty list of str."""
    items = [texts] if isinstance(texts, str) else list(texts)
    if not items:
        raise InputError(f"{name} is empty: give at least one text")
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise InputError(f"{name}[{i}] is {type(t).__name__}, expected str")
    return items


def device_of(transformer: Transformer) -> torch.device:
    return next(transformer.model.parameters()).device


def run_head(transformer: Transformer, tokens: Tokenized, batch_tokens: int | None,
             work: Callable[[np.ndarray, torch.Tensor], None]) -> None:
    """Call ``work(row indices, float32 logits)`` for every batch of a head model (masked-LM, NSP,
    ...) on the batching engine, whose worker threads may call it concurrently (write disjoint rows)."""
    type_ids = tokens.token_type_ids if getattr(transformer.model.config, "type_vocab_size", 0) > 1 else None

    def run(index: np.ndarray, batch: tuple) -> None:
        ids, mask, types = batch
        kwargs = {"input_ids": ids, "attention_mask": mask}
        if types is not None:
            kwargs["token_type_ids"] = types
        work(index, transformer.model(**kwargs).logits.float())

    batching.run_batches(tokens.input_ids, type_ids, transformer.pad_id, run,
                         batch_tokens=batch_tokens or batching.DEFAULT_BATCH_TOKENS, device=device_of(transformer),
                         context=torch.inference_mode)
