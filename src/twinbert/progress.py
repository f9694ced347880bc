"""Progress on stderr for long work: done/total, rows/s and ETA.

On a terminal it redraws one line; elsewhere (logs, CI) it prints a line every `every` seconds.
"""
from __future__ import annotations

import sys
import threading
import time


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60:02d}:{rest % 60:02d}"


class Progress:
    def __init__(self, total: int | None, desc: str = "", enabled: bool = True, unit: str = "rows",
                 every: float | None = None, stream=None):
        self.total, self.desc, self.unit = total, desc, unit
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every = every if every is not None else (0.2 if self.tty else 5.0)
        self.done = 0
        self.written = -1  # `done` when the last line was written (close() does not repeat it)
        self.start = self.last = time.perf_counter()
        self._lock = threading.Lock()  # batches may finish on several worker threads

    def line(self) -> str:
        elapsed = time.perf_counter() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        text = f"{self.desc}: {self.done}" + (f"/{self.total}" if self.total else "") + f" {self.unit}"
        text += f" | {rate:,.0f}" if rate >= 10 else f" | {rate:.2f}"
        text += f" {self.unit}/s | {_clock(elapsed)} elapsed"
        if self.total and rate > 0:
            text += f" | ETA {_clock((self.total - self.done) / rate)}"
        return text

    def update(self, n: int) -> None:
        with self._lock:
            self.done += n
            now = time.perf_counter()
            if self.enabled and now - self.last >= self.every:
                self.last = now
                self._write()

    def _write(self) -> None:
        self.written = self.done
        if self.tty:
            self.stream.write("\r" + self.line() + "\033[K")
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            if self.written != self.done or self.tty:
                self._write()
            if self.tty:
                self.stream.write("\n")
            self.stream.flush()
