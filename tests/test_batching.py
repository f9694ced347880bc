"""The batching engine: budget respected, every row exactly once, longest first; worker threads
give the single-thread results, restore torch's thread count and pass errors on."""
from __future__ import annotations

import contextlib
import threading

import numpy as np
import pytest
import torch

import twinbert
from twinbert.batching import padded, plan_batches, run_batches


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


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_workers_cover_every_row_once_each_in_its_own_modes(torch_threads):
    torch.set_num_threads(2)
    rng = np.random.default_rng(1)
    ids = [[1] * int(n) for n in rng.integers(1, 40, size=300)]
    seen, threads, entered = [], set(), []

    @contextlib.contextmanager
    def context():
        entered.append(threading.current_thread().name)
        with torch.inference_mode():
            yield

    def work(index, batch):
        assert torch.is_inference_mode_enabled() and torch.get_num_threads() == 1
        seen.extend(index.tolist())
        threads.add(threading.current_thread().name)

    run_batches(ids, None, 0, work, batch_tokens=128, context=context)
    assert sorted(seen) == list(range(300))
    assert len(entered) == 2 and threads <= set(entered)
    assert torch.get_num_threads() == 2  # restored


def test_an_error_in_a_worker_reaches_the_caller(torch_threads):
    torch.set_num_threads(2)
    calls = []

    def work(index, batch):
        calls.append(1)
        raise ValueError("bad batch")

    with pytest.raises(ValueError, match="bad batch"):
        run_batches([[1, 2]] * 50, None, 0, work, batch_tokens=4)
    assert len(calls) <= 2 and torch.get_num_threads() == 2


@pytest.mark.parametrize("precision", [None, "bfloat16"])
def test_worker_threads_give_the_single_thread_result(tiny_bert, torch_threads, precision):
    encoder = twinbert.load(str(tiny_bert), device="cpu")
    texts = [("word " * n).strip() for n in range(1, 60)]
    torch.set_num_threads(1)
    one = encoder.encode(texts, batch_tokens=64, precision=precision, output="all_layers")
    torch.set_num_threads(2)
    two = encoder.encode(texts, batch_tokens=64, precision=precision, output="all_layers")
    np.testing.assert_allclose(two, one, rtol=0, atol=1e-6)
