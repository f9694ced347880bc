"""Served: what one server holds — its sentence encoders (models.py, the first is the default), the
heads (cross-encoder, classifier), the index, the limits, the metrics, the tokenization pool — and the few
operations on them that are not a single library call (picking a model by name, the index update)."""
from __future__ import annotations

import asyncio
import functools
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import ServeConfig
from .errors import ApiError
from .metrics import Metrics
from .models import ServedModel

log = logging.getLogger("twinbert")


@dataclass(eq=False)
class Served:
    models: list[ServedModel]
    config: ServeConfig
    cross_encoder: Any = None
    classifier: Any = None
    index: Any = None
    index_path: Path | None = None
    auto_truncate: bool = True       # TEI routes cut long inputs unless a request says truncate=false (TEI >= 1.9.2)
    openai_encoding: Any = None      # openai_tokens.OpenAIEncoding: OpenAI's token ids -> text, when available
    ready: bool = False

    def __post_init__(self):
        self.metrics = Metrics()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    # the default model: the first, which TEI's routes, /search and the page use
    @property
    def default(self) -> ServedModel:
        return self.models[0]

    @property
    def name(self) -> str:
        return self.default.name

    @property
    def encoder(self):
        return self.default.encoder

    @property
    def engine(self):
        return self.default.engine

    @property
    def default_key(self):
        return self.default.default_key

    @property
    def batcher(self):
        return self.default.batcher

    def model(self, name: str | None) -> ServedModel:
        """The model a request's `model` field names (by name or alias). With one model served, any name is
        that model (clients send their own default, e.g. text-embedding-ada-002); with several, an unknown
        name is a 404 listing the served ones."""
        if len(self.models) == 1:
            return self.default
        for model in self.models:
            if name in model.aliases:
                return model
        names = ", ".join(m.name for m in self.models)
        raise ApiError(404, f"model {name!r} is not served here; served: {names}", "model", "model_not_found")

    def start(self) -> None:
        """Start the batchers' workers and the tokenization worker (once the event loop is about to run)."""
        for model in self.models:
            model.start(self._lock)
        # one worker: the models' tokenizers are not safe to call from two threads at once, and one
        # thread keeps tokenizing off the event loop while the batcher computes (TEI's tokenization workers)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="twinbert-tokenize")

    async def off_loop(self, fn, *args, **kwargs):
        """fn(*args, **kwargs) on the tokenization worker, so that the event loop keeps answering."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def warm_up(self) -> None:
        """One request through each model's whole path; /health answers 200 from then on."""
        for model in self.models:
            rows = model.engine.texts(["twinbert is warming up."], model.default_key)
            await model.batcher.embed(model.default_key, rows)
        self.ready = True
        if self.config.port:  # port 0 (a free port, picked by the OS): Background.url says which
            log.info("twinbert serve: ready on http://%s:%d", self.config.host, self.config.port)

    def stop(self) -> None:
        for model in self.models:
            if model.batcher is not None:
                model.batcher.close(self.config.graceful_timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=False)

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
                "backend": self.index.backend, "model": self.index.model_name, "writable": self.config.allow_writes,
                "modes": ["dense"] + (["lexical", "hybrid"] if self.index.lexical is not None else [])}

    def add_to_index(self, texts: list[str], ids: list | None) -> list:
        """Append to the index and save its folder atomically; any failure leaves both as they were. A save
        that fails (disk full, folder gone) is a 500 naming the folder, in the API's JSON shape."""
        from ..errors import InputError
        from ..search import Index

        saving = False
        try:
            added = self.index.add(texts=texts, ids=ids, encoder=self.encoder)
            saving = True
            self.index.save(self.index_path)
        except BaseException as exc:
            self.index = Index.load(self.index_path)  # memory back to what is on disk
            if not saving or isinstance(exc, InputError) or not isinstance(exc, Exception):
                raise
            raise ApiError(500, f"could not save the index folder {self.index_path}: {' '.join(str(exc).split())}; "
                                "nothing was added (the index on disk and in memory is as it was)") from exc
        return added
