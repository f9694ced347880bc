"""An Objective is one training dataset with its loss: what the training loop optimises.

The loop asks an objective for its batch plan of an epoch (lists of example indices, a pure function
of the seed and the epoch, so a resumed run replays it exactly) and for the loss of a set of rows.
Subclasses supply the data access: `__len__`, `lengths()` (token length per example, for
length-grouped batching), `duplicate_keys(i)` (texts that must not repeat inside a batch, for
in-batch-negative losses) and `loss(rows)`.
"""
from __future__ import annotations

from collections import deque

import torch
from torch import nn

MEGABATCH = 50  # length-grouped batching sorts windows of this many batches by length


class Objective(nn.Module):
    name: str = "objective"
    no_duplicates: bool = False

    def __len__(self) -> int:
        raise NotImplementedError

    def lengths(self) -> list[int]:
        raise NotImplementedError

    def duplicate_keys(self, i: int) -> tuple:
        return ()

    def loss(self, rows: list[int]) -> torch.Tensor:
        """The mean loss over the examples `rows` (a scalar with a graph)."""
        raise NotImplementedError

    def plan(self, seed: int, batch_size: int, length_grouped: bool = True) -> list[list[int]]:
        """Batches of example indices for one epoch, determined by `seed` alone.

        Shuffled; with `length_grouped`, windows of MEGABATCH batches are sorted by token length so a
        batch holds texts of similar length (little padding) and the batch order is shuffled again.
        With `no_duplicates`, an example whose texts already occur in the batch waits for a later one.
        """
        g = torch.Generator().manual_seed(int(seed))
        order = torch.randperm(len(self), generator=g).tolist()
        if length_grouped:
            lengths = self.lengths()
            window = batch_size * MEGABATCH
            order = [i for s in range(0, len(order), window)
                     for i in sorted(order[s:s + window], key=lambda k: -lengths[k])]
        batches = self._cut(order, batch_size)
        if length_grouped:
            batches = [batches[k] for k in torch.randperm(len(batches), generator=g).tolist()]
        return batches

    def _cut(self, order: list[int], batch_size: int) -> list[list[int]]:
        if not self.no_duplicates:
            return [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
        batches, waiting, rest = [], deque(), deque(order)
        while waiting or rest:
            batch, seen, skipped = [], set(), deque()
            while len(batch) < batch_size and (waiting or rest):
                i = waiting.popleft() if waiting else rest.popleft()
                keys = self.duplicate_keys(i)
                if seen.isdisjoint(keys):
                    batch.append(i)
                    seen.update(keys)
                else:
                    skipped.append(i)
            batches.append(batch)
            waiting = skipped + waiting
        return batches
