"""Ray, imported only when used: a clear message naming the extra when it is missing, one way to connect,
and Ray's own logs and progress bars kept off the user's terminal (twinbert shows its own progress)."""
from __future__ import annotations

import logging

from ..errors import InputError, TwinbertError
from ..extras import require

PURPOSE = "distributed encoding (--engine ray)"


def require_ray():
    """The ray module (with Ray Data and pyarrow); MissingExtraError naming the `ray` extra otherwise."""
    require("ray.data", PURPOSE)
    require("pyarrow.parquet", PURPOSE)
    import ray

    return ray


def connect(address: str | None = None, num_cpus: int | None = None):
    """ray, initialized: the running session if there is one, else the cluster at `address`
    ("auto", "HOST:PORT", "ray://HOST:PORT"), else a new local runtime (num_cpus: its CPUs, default all)."""
    ray = require_ray()
    if not ray.is_initialized():
        local = {"num_cpus": num_cpus} if address is None and num_cpus else {}
        try:
            ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING,
                     log_to_driver=False, **local)
        except ConnectionError as exc:
            raise InputError(f"cannot reach a Ray cluster at {address!r} ({str(exc).splitlines()[0]}); start "
                             "one with `ray start --head`, or leave address out for a local runtime",
                             argument="address") from exc
    # Ray Data logs its progress at INFO: twinbert shows its own rows/s and ETA (job._gather)
    for name in ("ray.data", "ray._private"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return ray


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
