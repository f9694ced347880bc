"""Small pieces shared by the BERT head functions: input checks and a forward over the batching engine."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .. import batching
from ..errors import InputError
from ..modules.transformer import Tokenized, Transformer


def data_place(data, what: str) -> str:
    """What messages about `data` name: its file, else `what` ("training data", "evaluation data")."""
    path = getattr(data, "path", None)
    return str(path) if path else what


def text_list(texts, name: str = "texts") -> list[str]:
    """One text or a list of texts -> a non-empty list of str."""
    items = [texts] if isinstance(texts, str) else list(texts)
    if not items:
        raise InputError(f"{name} is empty: give at least one text")
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise InputError(f"{name}[{i}] is {type(t).__name__}, expected str")
    return items


def run_head(transformer: Transformer, tokens: Tokenized, batch_tokens: int | None,
             work: Callable[[np.ndarray, torch.Tensor], None]) -> None:
    """Call ``work(row indices, float32 logits)`` for every batch of a head model (masked-LM, NSP,
    ...) on the batching engine, whose worker threads may call it concurrently (write disjoint rows)."""
    def run(index: np.ndarray, batch: tuple) -> None:
        ids, mask, types = batch
        inputs = transformer.model_inputs({"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
        work(index, transformer.model(**inputs).logits.float())

    batching.run_batches(tokens.input_ids, tokens.token_type_ids, transformer.pad_id, run,
                         batch_tokens=batch_tokens or batching.DEFAULT_BATCH_TOKENS, device=transformer.device,
                         context=torch.inference_mode)
