"""The batching engine shared by every caller that turns text into vectors.

Texts are tokenized once, sorted by token length (longest first), and cut into batches whose padded
size (rows x longest row) stays within a token budget; results are scattered back to the caller's
order. Sorting by length keeps padding near zero, the budget keeps memory flat whatever the lengths.

On the CPU the batches run on one worker thread per torch thread, each worker running torch
single-threaded: two one-thread matrix products side by side outpace one two-thread product on
these small shapes, and the element-wise steps between them (GELU, LayerNorm, softmax) run in
parallel too. The results are bit-identical; on 2 cores encoding is 1.17-1.26x faster
(benchmarks/RESULTS.md).
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import numpy as np
import torch

from .checks import positive_int

DEFAULT_BATCH_TOKENS = 2048


def plan_batches(lengths, batch_tokens: int = DEFAULT_BATCH_TOKENS, max_rows: int = 512) -> list[np.ndarray]:
    """Indices of each batch; every batch satisfies rows * longest <= batch_tokens (or has one row)."""
    batch_tokens = positive_int(batch_tokens, "batch_tokens")  # every caller's budget, checked here
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


def run_batches(ids: list[list[int]], type_ids: list[list[int]] | None, pad_id: int,
                work: Callable[[np.ndarray, tuple], None], *, batch_tokens: int = DEFAULT_BATCH_TOKENS,
                device="cpu", context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
                workers: int | None = None, width: int | None = None) -> None:
    """Call ``work(row indices, padded tensors)`` for every batch of the plan, inside ``context()``
    (entered once per worker thread: inference and autocast modes are thread-local).

    width: pad every row to at least this many tokens (budgeted as such), e.g. to show all rows at
    one width; default: each batch as wide as its longest row.

    workers: threads to run batches on; default: torch's thread count on the CPU, 1 elsewhere.
    With more than one, torch runs single-threaded in each (restored afterwards), batches go to
    whichever worker is free, longest first, and the first error stops the rest and is raised
    here. ``work`` must be safe to call from several threads (write disjoint rows).
    """
    plan = plan_batches([max(len(x), width or 0) for x in ids], batch_tokens)
    if workers is None:
        workers = torch.get_num_threads() if torch.device(device).type == "cpu" else 1
    workers = max(1, min(workers, len(plan)))
    if workers == 1:
        with context():
            for index in plan:
                work(index, padded(ids, type_ids, index, pad_id, device, width))
        return

    lock = threading.Lock()
    queue = iter(plan)
    errors: list[BaseException] = []
    finished = [threading.Event() for _ in range(workers)]

    def worker(k: int) -> None:
        torch.set_num_threads(1)
        try:
            with context():
                while True:
                    with lock:
                        index = None if errors else next(queue, None)
                    if index is None:
                        return
                    work(index, padded(ids, type_ids, index, pad_id, device, width))
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            with lock:
                errors.append(exc)
        finally:
            finished[k].set()

    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)
    pool = [threading.Thread(target=worker, args=(k,), name=f"twinbert-batch-{k}", daemon=True)
            for k in range(workers)]
    try:
        with _signals_deferred():  # a Ctrl-C inside Thread.start() would leave a worker nobody waits for
            for thread in pool:
                thread.start()
        for event in finished:
            event.wait()
    except BaseException as exc:
        # Ctrl-C / SIGTERM arrive in this (main) thread. Workers left running would be killed mid-torch-call
        # at interpreter exit ("terminate called ..."): stop them taking batches, wait for the batch in
        # hand, then raise here.
        with lock:
            errors.append(exc)
        _wait_all(finished)
        raise
    finally:
        torch.set_num_threads(threads_before)
    if errors:
        raise errors[0]


def _wait_all(finished: list[threading.Event]) -> None:
    """Wait until every worker has returned; a second Ctrl-C while waiting does not abandon them (their
    batch is short). Not Thread.join: CPython 3.11's join, interrupted by a signal, can mark a running
    thread as stopped (bpo-45274's fix releases the lock the running thread holds)."""
    for event in finished:
        while not event.is_set():
            try:
                event.wait()
            except BaseException:  # noqa: BLE001 - the first interrupt is the one raised
                continue


@contextlib.contextmanager
def _signals_deferred():
    """Hold SIGINT / SIGTERM back (POSIX, main thread) for the duration; they are delivered, and raise,
    right after. Threads started inside inherit the mask, so signals keep going to the main thread."""
    import signal

    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
