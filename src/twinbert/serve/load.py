"""Load what a server serves (checked before it listens, so a bad model or index is a one-line error
and exit 2, never a server that answers 500s) and run it."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError
from ..extras import require
from .config import ServeConfig


def require_serve_extra() -> None:
    for module in ("fastapi", "uvicorn", "orjson"):
        require(module, "twinbert serve")


def load_served(model: str | os.PathLike, config: ServeConfig | None = None, *, cross_encoder=None,
                classifier=None, index=None, device: str | None = None, precision: str | None = None,
                trust_remote_code: bool = False, auto_truncate: bool = False, **runtime):
    """A Served (state.py) with every model loaded and checked: the index against the encoder.
    runtime: twinbert.load's backend / quality / calibration, passed on only when given."""
    require_serve_extra()
    config = config or ServeConfig()
    from .. import load
    from ..bert import Classifier, CrossEncoder
    from ..search import Index
    from .state import Served

    if config.allow_writes and index is None:
        raise InputError("allow_writes=True needs an index to write to: give index=DIR", argument="allow_writes")
    options = {k: v for k, v in (("precision", precision), *runtime.items()) if v is not None}
    encoder = load(model, device=device, trust_remote_code=trust_remote_code, **options)
    heads = {"device": device, "trust_remote_code": trust_remote_code}  # the heads run in torch
    served = Served(str(model), encoder, config, auto_truncate=auto_truncate,
                    cross_encoder=CrossEncoder.load(cross_encoder, **heads) if cross_encoder else None,
                    classifier=Classifier.load(classifier, **heads) if classifier else None)
    if index is not None:
        served.index, served.index_path = Index.load(index), Path(index)
        served.index.search([""], k=1, encoder=encoder)  # the index's model check, now rather than per request
    return served


def build_app(served):
    from .app import create_app

    return create_app(served)


def serve(model: str | os.PathLike, config: ServeConfig | None = None, **load_options) -> None:
    """Load, then serve until SIGTERM / Ctrl-C; returns after the requests in flight are answered."""
    from .server import run_server

    config = config or ServeConfig()
    run_server(build_app(load_served(model, config, **load_options)), config)
