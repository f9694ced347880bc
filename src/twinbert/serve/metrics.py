"""Prometheus text for /metrics: requests by route and status, latency histograms, queue depth, batch
sizes and tokens. Written by hand (the format is a few lines); tests parse it with prometheus_client."""
from __future__ import annotations

import bisect
import threading
from collections import defaultdict

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Histogram:
    def __init__(self, buckets):
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value

    def lines(self, name: str, labels: str = "") -> list[str]:
        out, total = [], 0
        sep = "," if labels else ""
        for bound, count in zip((*self.buckets, "+Inf"), self.counts):
            total += count
            out.append(f'{name}_bucket{{{labels}{sep}le="{bound}"}} {total}')
        braces = f"{{{labels}}}" if labels else ""
        out += [f"{name}_sum{braces} {self.sum}", f"{name}_count{braces} {total}"]
        return out


class Metrics:
    def __init__(self):
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.latency: dict[str, Histogram] = {}
        self.batch_rows = Histogram(BATCH_BUCKETS)
        self.input_tokens = 0
        self.in_flight = 0

    def request(self, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[route, status] += 1
            self.latency.setdefault(route, Histogram(LATENCY_BUCKETS)).observe(seconds)

    def tokens(self, count: int) -> None:
        with self._lock:
            self.input_tokens += count

    def text(self, queue_rows: int, stats) -> str:
        """The exposition text; `stats` is the batcher's BatchStats (its recent sizes are drained here)."""
        with self._lock:
            sizes, stats.sizes[:] = list(stats.sizes), []
            for size in sizes:
                self.batch_rows.observe(size)
            lines = ["# HELP twinbert_requests_total HTTP requests by route and status code.",
                     "# TYPE twinbert_requests_total counter"]
            lines += [f'twinbert_requests_total{{route="{r}",status="{s}"}} {n}'
                      for (r, s), n in sorted(self.requests.items())]
            lines += ["# HELP twinbert_request_duration_seconds Time from request to response.",
                      "# TYPE twinbert_request_duration_seconds histogram"]
            for route, hist in sorted(self.latency.items()):
                lines += hist.lines("twinbert_request_duration_seconds", f'route="{route}"')
            lines += ["# HELP twinbert_batch_rows Rows in one engine call of the micro-batcher.",
                      "# TYPE twinbert_batch_rows histogram", *self.batch_rows.lines("twinbert_batch_rows"),
                      "# HELP twinbert_queue_rows Rows waiting for the engine.", "# TYPE twinbert_queue_rows gauge",
                      f"twinbert_queue_rows {queue_rows}",
                      "# HELP twinbert_requests_in_flight Requests being served.",
                      "# TYPE twinbert_requests_in_flight gauge", f"twinbert_requests_in_flight {self.in_flight}",
                      "# HELP twinbert_batches_total Engine calls.", "# TYPE twinbert_batches_total counter",
                      f"twinbert_batches_total {stats.batches}",
                      "# HELP twinbert_batch_tokens_total Tokens run through the engine.",
                      "# TYPE twinbert_batch_tokens_total counter", f"twinbert_batch_tokens_total {stats.tokens}",
                      "# HELP twinbert_input_tokens_total Tokens of the inputs received.",
                      "# TYPE twinbert_input_tokens_total counter", f"twinbert_input_tokens_total {self.input_tokens}"]
        return "\n".join(lines) + "\n"
