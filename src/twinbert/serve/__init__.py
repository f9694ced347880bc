"""twinbert serve: an HTTP server for a sentence encoder (and optionally a cross-encoder, a classifier
and a persistent index), speaking OpenAI's embeddings API and text-embeddings-inference's API.

    from twinbert.serve import ServeConfig, serve
    serve("all-MiniLM-L6-v2", ServeConfig(port=8080))     # blocks until SIGTERM / Ctrl-C
    with Background(load_served("all-MiniLM-L6-v2", ServeConfig(port=0))) as server:
        ...                                                # server.url answers in a thread of this process

Needs the `serve` extra (pip install 'twinbert[serve]': FastAPI + uvicorn). Layout: config.py (the
knobs), engine.py (texts -> token rows -> vectors), batcher.py (the micro-batching queue), schemas.py
(request bodies), routes_*.py (one file per API), limits.py (key, overload, body size, time),
metrics.py, page.py + static/ (the web page), app.py (the application), server.py (uvicorn, drain).
"""
from __future__ import annotations

from .config import ServeConfig
from .load import build_app, load_served, serve
from .server import Background

__all__ = ["Background", "ServeConfig", "build_app", "load_served", "serve"]
