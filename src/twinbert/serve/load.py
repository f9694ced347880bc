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


def load_served(model, config: ServeConfig | None = None, *, cross_encoder=None, classifier=None, index=None,
                device: str | None = None, precision: str | None = None, trust_remote_code: bool = False,
                auto_truncate: bool = True, **runtime):
    """A Served (state.py) with every model loaded and checked: the index against the (first) encoder.
    model: one model name or folder, or a list of them (the first is the default of TEI's routes).
    runtime: twinbert.load's backend / quality / calibration, passed on only when given."""
    require_serve_extra()
    config = config or ServeConfig()
    from .. import load
    from ..bert import Classifier, CrossEncoder
    from ..search import Index
    from .models import ServedModel
    from .openai_tokens import load_encoding
    from .state import Served

    names = [model] if isinstance(model, (str, os.PathLike)) else list(model)
    if not names:
        raise InputError("give at least one model to serve", argument="model")
    if config.allow_writes and index is None:
        raise InputError("allow_writes=True needs an index to write to: give index=DIR", argument="allow_writes")
    _check_distinct(names)
    options = {k: v for k, v in (("precision", precision), *runtime.items()) if v is not None}
    models = [ServedModel(str(name), load(name, device=device, trust_remote_code=trust_remote_code, **options),
                          config.max_input_tokens, config.max_batch_tokens) for name in names]
    heads = {"device": device, "trust_remote_code": trust_remote_code}  # the heads run in torch
    served = Served(models, config, auto_truncate=auto_truncate,
                    cross_encoder=CrossEncoder.load(cross_encoder, **heads) if cross_encoder else None,
                    classifier=Classifier.load(classifier, **heads) if classifier else None,
                    openai_encoding=load_encoding(config.openai_encoding))
    if index is not None:
        served.index, served.index_path = Index.load(index), Path(index)
        served.index.search([""], k=1, encoder=served.encoder)  # the index's model check, now rather than per request
    return served


def _check_distinct(names: list) -> None:
    """Two models a request could not tell apart (the same name, or the same folder name) are refused."""
    from .models import aliases_of

    seen: dict[str, tuple[int, str]] = {}
    for number, name in enumerate(map(str, names)):
        for alias in aliases_of(name):
            if alias in seen and seen[alias][0] != number:
                raise InputError(f"models {seen[alias][1]!r} and {name!r} would both answer to model={alias!r}: "
                                 "serve each model once, from folders of different names", argument="model")
            seen[alias] = (number, name)


def build_app(served):
    from .app import create_app

    return create_app(served)


def serve(model, config: ServeConfig | None = None, **load_options) -> None:
    """Load, then serve until SIGTERM / Ctrl-C; returns after the requests in flight are answered. The port
    is taken first, so that a busy port is a one-line error before any model is loaded."""
    from .server import bind, run_server

    config = config or ServeConfig()
    sock = bind(config)
    try:
        run_server(build_app(load_served(model, config, **load_options)), config, sock)
    finally:
        sock.close()
