"""The batching engine shared by every caller that turns text into vectors.

Texts are tokenized once, sorted by token length (longest first), and cut into batches whose padded
size (rows x longest row) stays within a token budget; results are scattered back to the caller's
order. Sorting by length keeps padding near zero, the budget keeps memory flat whatever the lengths.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

DEFAULT_BATCH_TOKENS = 2048


def plan_batches(lengths, batch_tokens: int = DEFAULT_BATCH_TOKENS, max_rows: int = 512) -> list[np.ndarray]:
    """Indices of each batch; every batch satisfies rows * longest <= batch_tokens (or has one row)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    batches, start = [], 0
    n = len(order)
    while start < n:
        longest = int(lengths[order[start]])
        rows = max(1, min(max_rows, batch_tokens // max(longest, 1)))
        batches.append(order[start:start + rows])
        start += rows
    return batches


def padded(ids: list[list[int]], type_ids: list[list[int]] | None, index: np.ndarray, pad_id: int,
           device: torch.device | str = "cpu", width: int | None = None,
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Right-padded (input_ids, attention_mask, token_type_ids) tensors for the rows in `index`, as wide
    as the longest row, or `width` when that is wider."""
    width = max([len(ids[i]) for i in index] + [width or 0])
    input_ids = np.full((len(index), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(index), width), dtype=np.int64)
    types = np.zeros((len(index), width), dtype=np.int64) if type_ids is not None else None
    for row, i in enumerate(index):
        n = len(ids[i])
        input_ids[row, :n] = ids[i]
        mask[row, :n] = 1
        if types is not None:
            types[row, :n] = type_ids[i]
    to = lambda a: torch.from_numpy(a).to(device)  # noqa: E731
    return to(input_ids), to(mask), (to(types) if types is not None else None)


def batches(ids: list[list[int]], type_ids: list[list[int]] | None, pad_id: int, *,
            batch_tokens: int = DEFAULT_BATCH_TOKENS, device="cpu") -> Iterator[tuple[np.ndarray, tuple]]:
    """Yield (row indices, padded tensors) for every batch of the plan."""
    for index in plan_batches([len(x) for x in ids], batch_tokens):
        yield index, padded(ids, type_ids, index, pad_id, device)
