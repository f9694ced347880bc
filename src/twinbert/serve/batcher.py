"""The micro-batching queue: concurrent requests packed by token budget into one engine call.

Every model call of the server runs on ONE worker thread, in order, so torch's threads are never
shared between two calls. Embedding jobs (rows of token ids with an EmbedKey) wait in a queue; the
worker takes the oldest job's key and packs rows of every waiting job with that key, in turn, until
`max_batch_tokens` is reached (TEI's default 16,384), runs them as one call of the batching engine
(which sorts them by length and cuts its own padded batches) and splits the vectors back per job.

Fairness: each waiting job gets an equal share of the budget first, so a 1-sentence request never
waits behind more than one engine call of a 1,000-sentence one. Isolation: when a packed call fails,
its jobs are run one by one, so only the job at fault gets the error.
Other model work (rerank, classify, search) is queued as a plain call and runs between batches.
A server with several models has one batcher per model (each its own queue and budget) and one lock
shared by all, so two models never compute at once on the same cores.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .engine import EmbedKey, Rows

log = logging.getLogger("twinbert")


@dataclass(eq=False)
class _Job:
    key: EmbedKey | None          # None: a plain call
    rows: Rows | None
    call: Callable[[], Any] | None
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    taken: int = 0                # rows handed to the engine so far
    parts: dict = field(default_factory=dict)  # first row -> results of rows from there
    done: int = 0


@dataclass
class BatchStats:
    """What /metrics reports about the queue."""
    batches: int = 0
    rows: int = 0
    tokens: int = 0
    sizes: list = field(default_factory=list)   # rows of recent batches (drained by metrics)


class MicroBatcher:
    def __init__(self, run: Callable[[EmbedKey, Rows], Any], max_batch_tokens: int = 16384,
                 lock: threading.Lock | None = None):
        self._run = run
        self._lock = lock or threading.Lock()  # shared by the batchers of a server: one model call at a time
        self.max_batch_tokens = max_batch_tokens
        self._jobs: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.stats = BatchStats()
        self._thread = threading.Thread(target=self._work, name="twinbert-serve-batcher", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------- event-loop side
    async def embed(self, key: EmbedKey, rows: Rows):
        """The vectors of `rows`, computed in a batch with whatever else is waiting."""
        if not rows.ids:
            return self._run(key, rows)
        return await self._submit(_Job(key, rows, None, *self._future()))

    async def call(self, fn: Callable[[], Any]):
        """fn() run on the worker thread, between batches."""
        return await self._submit(_Job(None, None, fn, *self._future()))

    @staticmethod
    def _future():
        loop = asyncio.get_running_loop()
        return loop, loop.create_future()

    async def _submit(self, job: _Job):
        with self._cond:
            if self._closed:
                raise RuntimeError("the server is shutting down")
            self._jobs.append(job)
            self._cond.notify()
        return await job.future

    @property
    def waiting_rows(self) -> int:
        with self._cond:
            return sum(len(j.rows.ids) - j.taken for j in self._jobs if j.rows is not None)

    def close(self, timeout: float = 30.0) -> None:
        """Finish what is queued, then stop the worker."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)

    # ------------------------------------------------------------- worker side
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._closed:
                    self._cond.wait()
                if not self._jobs:
                    return
                picked = self._pick()
            if picked[0][0].rows is None:
                self._plain(picked[0][0])
            else:
                self._batch(picked)

    def _pick(self) -> list[tuple[_Job, int, int]]:
        """(job, first row, end row) slices for the next engine call; jobs fully taken leave the queue."""
        first = self._jobs[0]
        if first.rows is None:
            self._jobs.popleft()
            return [(first, 0, 0)]
        same = [j for j in self._jobs if j.key == first.key]
        budget = self.max_batch_tokens
        share = max(budget // len(same), 1)
        picked: dict[_Job, list[int]] = {}
        for limit in (share, budget):  # equal shares first, then whatever budget is left, oldest first
            for job in same:
                start = picked[job][1] if job in picked else job.taken
                end, spent = start, 0
                ids = job.rows.ids
                while end < len(ids):
                    n = len(ids[end])
                    if (picked or end > start) and (n > budget or spent + n > limit):
                        break  # the first row of a call always goes, however long
                    spent, budget, end = spent + n, budget - n, end + 1
                if end > start:
                    picked.setdefault(job, [start, end])[1] = end
        for job, (_, end) in picked.items():
            job.taken = end
            if end == len(job.rows.ids):
                self._jobs.remove(job)
        return [(job, start, end) for job, (start, end) in picked.items()]

    def _plain(self, job: _Job) -> None:
        try:
            with self._lock:
                value = job.call()
        except BaseException as exc:  # noqa: BLE001 - handed to the request that asked
            self._fail(job, exc)
        else:
            self._resolve(job, value)

    def _batch(self, picked: list[tuple[_Job, int, int]]) -> None:
        key = picked[0][0].key
        ids = [row for job, a, b in picked for row in job.rows.ids[a:b]]
        types = None if any(job.rows.types is None for job, _, _ in picked) else \
            [row for job, a, b in picked for row in job.rows.types[a:b]]
        started = time.perf_counter()
        try:
            with self._lock:
                out = self._run(key, Rows(ids, types))
        except BaseException as exc:  # noqa: BLE001
            if len(picked) == 1:
                self._fail(picked[0][0], exc)
                return
            for part in picked:  # one by one: only the job at fault fails
                self._batch([part])
            return
        log.debug("batch of %d rows in %.1f ms", len(ids), 1000 * (time.perf_counter() - started))
        self.stats.batches += 1
        self.stats.rows += len(ids)
        self.stats.tokens += sum(len(r) for r in ids)
        self.stats.sizes.append(len(ids))
        offset = 0
        for job, a, b in picked:
            job.parts[a] = out[offset:offset + b - a]
            offset += b - a
            job.done += b - a
            if job.done == len(job.rows.ids) and not job.future.done():
                starts = sorted(job.parts)
                parts = [job.parts[s] for s in starts]
                whole = np.concatenate(parts) if isinstance(parts[0], np.ndarray) else [v for p in parts for v in p]
                self._resolve(job, whole)

    @staticmethod
    def _resolve(job: _Job, value) -> None:
        def set_value():
            if not job.future.done():
                job.future.set_result(value)
        job.loop.call_soon_threadsafe(set_value)

    def _fail(self, job: _Job, exc: BaseException) -> None:
        with self._cond:
            if job in self._jobs:
                self._jobs.remove(job)

        def set_error():
            if not job.future.done():
                job.future.set_exception(exc)
        job.loop.call_soon_threadsafe(set_error)
