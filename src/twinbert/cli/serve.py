"""twinbert serve: an embedding, rerank and search server (OpenAI, TEI and Cohere-rerank APIs) over one or
more models."""
from __future__ import annotations

import argparse

from ..serve.config import ServeConfig
from . import common
from .dataclass_flags import add_flags, config_values

POSITIVE = {"type": common.positive_int}


def _port(text: str) -> int:
    value = common.positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 1..65535, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


def register(sub) -> None:
    about = ("serve sentence encoders over HTTP: OpenAI's /v1/embeddings and /v1/models, text-embeddings-inference's "
             "routes (POST /, /embed, /similarity, /rerank, /predict, /tokenize, /decode, ...), Cohere/Jina "
             "/v1/rerank, /search over an index, Swagger UI at /docs and a web page at /; runs until SIGTERM / "
             "Ctrl-C, which finish the requests in flight")
    p = sub.add_parser("serve", help=about.split(":")[0], description=about)
    common.add_model(p, positional=True)
    p.add_argument("more_models", nargs="*", metavar="MODEL",
                   help="more models, each with its own micro-batcher, picked by the request's `model` (name or "
                        "folder name); the first is the default, which TEI's routes use")
    p.add_argument("--reranker", "--cross-encoder", dest="cross_encoder", default=None, metavar="MODEL",
                   help="a cross-encoder folder for /rerank, /v1/rerank and /v2/rerank")
    p.add_argument("--classifier", default=None, metavar="MODEL", help="a sequence classifier folder for /predict")
    p.add_argument("--index", default=None, metavar="DIR", help="an index folder for /search (twinbert index build)")
    p.add_argument("--auto-truncate", action=argparse.BooleanOptionalAction, default=True,
                   help="TEI routes cut inputs over the token limit unless a request says truncate=false (default, "
                        "as text-embeddings-inference since 1.9.2); --no-auto-truncate: refuse them with 413 "
                        "unless a request says truncate=true")
    add_flags(p, ServeConfig, options=_options())
    p.set_defaults(run=run)


def _options() -> dict[str, dict]:
    """What the command line needs beyond ServeConfig's types: stricter numbers, names for a metavar."""
    return {"port": {"type": _port}, "request_timeout": {"type": _seconds}, "graceful_timeout": {"type": _seconds},
            "max_batch_tokens": POSITIVE, "max_client_batch_size": POSITIVE, "max_concurrent_requests": POSITIVE,
            "max_input_tokens": POSITIVE, "payload_limit": POSITIVE, "openai_encoding": {"metavar": "FILE"},
            "cors_origins": {"flags": ["--cors-origin"], "metavar": "ORIGIN"}}


def run(args) -> int:
    from ..serve import serve

    common.check_device(args.device)
    config = ServeConfig(**config_values(args, ServeConfig))
    # the runtime flags of `encode` (backend, precision, quality, calibration) when this twinbert has them
    runtime = {key: getattr(args, flag) for key, flag in (("backend", "runtime_backend"), ("quality", "quality"))
               if getattr(args, flag, None) is not None}
    if getattr(args, "calibration", None) is not None:
        runtime["calibration"] = common.calibration_texts(args.calibration)
    serve([args.model, *args.more_models], config, cross_encoder=args.cross_encoder, classifier=args.classifier, index=args.index,
          device=args.device, precision=args.precision, trust_remote_code=args.trust_remote_code,
          auto_truncate=args.auto_truncate, **runtime)
    return 0
