"""Ray, imported only when used: a clear message naming the extra when it is missing, one way to connect,
and Ray's own logs and progress bars kept off the user's terminal (twinbert shows its own progress)."""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import warnings

from ..errors import InputError, TwinbertError
from ..extras import require

PURPOSE = "distributed encoding (--engine ray)"


def require_ray():
    """The ray module (with Ray Data and pyarrow); MissingExtraError naming the `ray` extra otherwise."""
    require("ray.data", PURPOSE)
    require("pyarrow.parquet", PURPOSE)
    import ray

    return ray


# A Ray head answers a TCP connection at once; where nothing listens, ray.init retries for minutes (seen:
# still retrying after 90 s, printing warnings). One connection first, with this timeout, says so at once.
PROBE_S = 5.0
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])  # + empty SETTINGS


def connect(address: str | None = None, num_cpus: int | None = None, quiet: bool = False):
    """ray, initialized: the running session if there is one, else the cluster at `address`
    ("auto", "HOST:PORT", "ray://HOST:PORT"), else a new local runtime (num_cpus: its CPUs, default all).
    An address where nothing listens is an InputError within PROBE_S seconds. quiet: Ray's Python loggers
    at ERROR (its C++ core's lines: see quiet_stderr)."""
    ray = require_ray()
    level = logging.ERROR if quiet else logging.WARNING
    if not ray.is_initialized():
        probe(address)
        local = {"num_cpus": num_cpus} if address is None and num_cpus else {}
        try:
            ray.init(address=address, include_dashboard=False, logging_level=level, log_to_driver=False, **local)
        except ConnectionError as exc:
            raise InputError(f"cannot reach a Ray cluster at {address!r} ({str(exc).splitlines()[0]}); start "
                             "one with `ray start --head`, or leave address out for a local runtime",
                             argument="address") from exc
    # Ray Data logs its progress at INFO: twinbert shows its own rows/s and ETA (job._gather)
    for name in ("ray", "ray.data", "ray._private"):
        logging.getLogger(name).setLevel(level)
    return ray


def probe(address: str | None) -> None:
    """InputError within PROBE_S seconds unless something answers at a HOST:PORT or ray://HOST:PORT address
    ("auto" and None are Ray's to find)."""
    if address is None or address == "auto":
        return
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not host or not port.isdigit():
        raise InputError(f"address {address!r}: expected HOST:PORT, ray://HOST:PORT or auto", argument="address")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_S) as conn:
            # Ray's head speaks gRPC: its HTTP/2 server answers a client's connection preface at once (a TLS
            # one with an alert, or by closing). A port that takes the connection and then says nothing is
            # not a Ray head, and ray.init would wait on it for minutes
            try:
                conn.sendall(_HTTP2_PREFACE)
                conn.recv(1)
            except TimeoutError:
                raise
            except OSError:  # reset or closed: something answered; ray.init says what
                pass
    except OSError as exc:
        reason = f"no answer within {PROBE_S:g} s" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise InputError(f"cannot reach a Ray cluster at {address!r} ({reason}); start one with `ray start "
                         "--head`, or leave address out for a local runtime", argument="address") from exc


@contextlib.contextmanager
def quiet_stderr(quiet: bool):
    """With quiet, Ray's own lines kept off the terminal while the block runs, twinbert's kept on it. Ray's
    C++ core writes its warnings straight to file descriptor 2 (its log level cannot silence them all:
    at ERROR it still prints an INFO line saying so, and a warning-like ERROR about actor arguments), so
    descriptor 2 goes to /dev/null; sys.stderr and the log handlers that wrote to it write to a copy of
    the real stderr meanwhile, and Ray's Python warnings are ignored."""
    if not quiet:
        yield
        return
    sys.stderr.flush()
    before = sys.stderr
    real = os.fdopen(os.dup(2), "w", buffering=1, encoding=getattr(before, "encoding", None) or "utf-8",
                     errors="backslashreplace")
    handlers = [h for name in (None, "twinbert") for h in logging.getLogger(name).handlers
                if isinstance(h, logging.StreamHandler) and h.stream is before]
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    sys.stderr = real
    for handler in handlers:
        handler.setStream(real)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"ray(\.|$)")
            yield
    finally:
        real.flush()
        os.dup2(real.fileno(), 2)
        sys.stderr = before
        for handler in handlers:
            handler.setStream(before)
        real.close()


def cluster_cpus(ray) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def node_cpus(ray) -> int:
    """The CPUs of the smallest live node that has any (a head node kept free of work has none)."""
    cpus = [int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]
    return max(1, min((c for c in cpus if c > 0), default=1))


def unwrap(exc: BaseException) -> BaseException:
    """A twinbert error raised inside an actor, out of the Ray exceptions wrapped around it (else exc)."""
    seen = exc
    for _ in range(8):
        cause = getattr(seen, "cause", None) or seen.__cause__
        if cause is None:
            break
        if isinstance(cause, TwinbertError):
            return cause
        seen = cause
    return exc
