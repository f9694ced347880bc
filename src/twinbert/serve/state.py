"""Served: what one server holds — the models, the engine and its batcher, the limits, the metrics —
and the few operations on them that are not a single library call (the index update)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..encoder import SentenceEncoder
from .batcher import MicroBatcher
from .config import ServeConfig
from .engine import Engine, run_rows
from .errors import ApiError
from .metrics import Metrics

log = logging.getLogger("twinbert")


@dataclass(eq=False)
class Served:
    name: str
    encoder: SentenceEncoder
    config: ServeConfig
    cross_encoder: Any = None
    classifier: Any = None
    index: Any = None
    index_path: Path | None = None
    auto_truncate: bool = False
    ready: bool = False

    def __post_init__(self):
        self.engine = Engine(self.encoder, self.config.max_input_tokens)
        self.default_key = self.engine.key()
        self.metrics = Metrics()
        self.batcher: MicroBatcher | None = None

    def start(self) -> None:
        """Start the batcher's worker (once the server's event loop is about to run)."""
        self.batcher = MicroBatcher(lambda key, rows: run_rows(self.encoder, key, rows), self.config.max_batch_tokens)

    async def warm_up(self) -> None:
        """One request through the whole path; /health answers 200 from then on."""
        rows = self.engine.texts(["twinbert is warming up."], self.default_key)
        await self.batcher.embed(self.default_key, rows)
        self.ready = True
        if self.config.port:  # port 0 (a free port, picked by the OS): Background.url says which
            log.info("twinbert serve: ready on http://%s:%d", self.config.host, self.config.port)

    def stop(self) -> None:
        if self.batcher is not None:
            self.batcher.close(self.config.graceful_timeout)

    def truncate(self, asked: bool | None) -> bool:
        return self.auto_truncate if asked is None else asked

    def need(self, attribute: str, flag: str, route: str):
        value = getattr(self, attribute)
        if value is None:
            raise ApiError(400, f"{route} needs a model this server was not started with: start it with {flag}")
        return value

    def index_info(self) -> dict | None:
        if self.index is None:
            return None
        return {"path": str(self.index_path), "count": len(self.index), "metric": self.index.metric,
                "backend": self.index.backend, "model": self.index.model_name, "writable": self.config.allow_writes}

    def add_to_index(self, texts: list[str], ids: list | None) -> list:
        """Append to the index and save its folder atomically; any failure leaves both as they were."""
        from ..search import Index

        try:
            added = self.index.add(texts=texts, ids=ids, encoder=self.encoder)
            self.index.save(self.index_path)
        except BaseException:
            self.index = Index.load(self.index_path)  # memory back to what is on disk
            raise
        return added
