"""The micro-batching queue on its own: concurrent requests share engine calls within the token budget,
results go back to the right request, a failing request fails alone, a small request is not stuck
behind a big one."""
from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from twinbert.serve.batcher import MicroBatcher
from twinbert.serve.engine import EmbedKey, Rows

KEY = EmbedKey(options=None)  # the batcher only compares keys


class Recorder:
    """An engine that returns each row's first id and length, and records the calls."""

    def __init__(self, fail_on: int | None = None, delay: threading.Event | None = None):
        self.calls: list[list[int]] = []
        self.fail_on, self.delay = fail_on, delay

    def __call__(self, key, rows: Rows) -> np.ndarray:
        if self.delay is not None:
            self.delay.wait(5)
        self.calls.append([r[0] for r in rows.ids])
        if self.fail_on is not None and any(r[0] == self.fail_on for r in rows.ids):
            raise ValueError(f"row {self.fail_on} is poison")
        return np.array([[r[0], len(r)] for r in rows.ids], dtype=np.float32)


def rows(*firsts, length=4) -> Rows:
    return Rows([[f] + [0] * (length - 1) for f in firsts], None)


def run(coro):
    return asyncio.run(coro)


def test_concurrent_requests_share_engine_calls_and_get_their_own_rows():
    gate = threading.Event()
    engine = Recorder(delay=gate)
    batcher = MicroBatcher(engine, max_batch_tokens=1000)

    async def main():
        first = asyncio.create_task(batcher.embed(KEY, rows(0)))  # taken at once, held by the gate
        await asyncio.sleep(0.05)
        others = [asyncio.create_task(batcher.embed(KEY, rows(10 * k, 10 * k + 1))) for k in range(1, 6)]
        await asyncio.sleep(0.05)
        gate.set()
        return await first, await asyncio.gather(*others)

    first, others = run(main())
    batcher.close()
    assert first.tolist() == [[0, 4]]
    for k, out in enumerate(others, 1):
        assert out[:, 0].tolist() == [10 * k, 10 * k + 1]
    assert engine.calls == [[0], [10, 11, 20, 21, 30, 31, 40, 41, 50, 51]]  # five requests, one call
    assert batcher.stats.batches == 2 and batcher.stats.rows == 11 and batcher.stats.tokens == 44


def test_the_token_budget_splits_and_every_waiting_request_gets_a_share():
    gate = threading.Event()
    engine = Recorder(delay=gate)
    batcher = MicroBatcher(engine, max_batch_tokens=16)  # 4 rows of 4 tokens per call

    async def main():
        hold = asyncio.create_task(batcher.embed(KEY, rows(0)))
        await asyncio.sleep(0.05)
        big = asyncio.create_task(batcher.embed(KEY, rows(*range(100, 110))))
        small = asyncio.create_task(batcher.embed(KEY, rows(7)))
        await asyncio.sleep(0.05)
        gate.set()
        return await hold, await big, await small

    _, big, small = run(main())
    batcher.close()
    assert big[:, 0].tolist() == list(range(100, 110)) and small[:, 0].tolist() == [7]
    assert engine.calls[1] == [100, 101, 102, 7]  # the small request rides in the first call after the hold
    assert all(len(c) * 4 <= 16 for c in engine.calls)
    assert sorted(x for c in engine.calls[1:] for x in c) == sorted([*range(100, 110), 7])


def test_a_failing_request_fails_alone():
    gate = threading.Event()
    engine = Recorder(fail_on=666, delay=gate)
    batcher = MicroBatcher(engine, max_batch_tokens=1000)

    async def main():
        hold = asyncio.create_task(batcher.embed(KEY, rows(0)))
        await asyncio.sleep(0.05)
        good = asyncio.create_task(batcher.embed(KEY, rows(1, 2)))
        bad = asyncio.create_task(batcher.embed(KEY, rows(3, 666)))
        also_good = asyncio.create_task(batcher.embed(KEY, rows(4)))
        await asyncio.sleep(0.05)
        gate.set()
        await hold
        return await asyncio.gather(good, bad, also_good, return_exceptions=True)

    good, bad, also_good = run(main())
    batcher.close()
    assert good[:, 0].tolist() == [1, 2] and also_good[:, 0].tolist() == [4]
    assert isinstance(bad, ValueError) and "poison" in str(bad)


def test_keys_never_share_a_call_and_plain_calls_run_in_order():
    engine = Recorder()
    batcher = MicroBatcher(engine)
    other = EmbedKey(options="other")

    async def main():
        a = batcher.embed(KEY, rows(1))
        b = batcher.embed(other, rows(2))
        c = batcher.call(lambda: "plain")
        return await asyncio.gather(a, b, c)

    a, b, c = run(main())
    batcher.close()
    assert c == "plain" and a[0, 0] == 1 and b[0, 0] == 2
    assert [1] in engine.calls and [2] in engine.calls


def test_a_closed_batcher_refuses_new_work():
    batcher = MicroBatcher(Recorder())
    batcher.close()
    with pytest.raises(RuntimeError, match="shutting down"):
        run(batcher.embed(KEY, rows(1)))
