"""The batching engine: budget respected, every row exactly once, longest first."""
from __future__ import annotations

import numpy as np

from twinbert.batching import padded, plan_batches


def test_plan_respects_budget_and_covers_all_rows():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 300, size=1000)
    plan = plan_batches(lengths, batch_tokens=1024)
    seen = np.concatenate(plan)
    assert sorted(seen.tolist()) == list(range(1000))
    for batch in plan:
        assert len(batch) == 1 or len(batch) * lengths[batch].max() <= 1024
    firsts = [lengths[b].max() for b in plan]
    assert firsts == sorted(firsts, reverse=True)


def test_row_longer_than_budget_gets_its_own_batch():
    plan = plan_batches([5000, 3, 3], batch_tokens=100)
    assert [b.tolist() for b in plan] == [[0], [1, 2]]


def test_padded_tensors():
    ids = [[2, 7, 3], [2, 3], [2, 8, 9, 10, 3]]
    input_ids, mask, types = padded(ids, [[0] * len(x) for x in ids], np.array([2, 0]), pad_id=0)
    assert input_ids.tolist() == [[2, 8, 9, 10, 3], [2, 7, 3, 0, 0]]
    assert mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    assert types.shape == (2, 5)
