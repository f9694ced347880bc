"""ServedModel: one sentence encoder of a server, with what serving it needs of its own: the name and
aliases a request's `model` field picks it by, its engine (limits, token rows), its micro-batcher, and the
memory it holds (reported per model by /info and /metrics)."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import PurePath

from ..encoder import SentenceEncoder
from .batcher import MicroBatcher
from .engine import Engine, run_rows


def aliases_of(name: str) -> tuple[str, ...]:
    """Names a client may use for the model given as `name`: the name, and its last path part
    (`/models/all-MiniLM-L6-v2` and `sentence-transformers/all-MiniLM-L6-v2` are also `all-MiniLM-L6-v2`)."""
    last = PurePath(name).name
    return tuple(dict.fromkeys(n for n in (name, last, f"sentence-transformers/{last}") if n))


def parameter_bytes(module) -> int:
    """Bytes of the weights (torch parameters and buffers) a model holds in memory."""
    tensors = [*module.parameters(), *module.buffers()]
    return int(sum(t.numel() * t.element_size() for t in tensors))


@dataclass(eq=False)
class ServedModel:
    name: str
    encoder: SentenceEncoder
    max_input_tokens: int | None = None
    max_batch_tokens: int = 16384
    aliases: tuple[str, ...] = ()

    def __post_init__(self):
        self.aliases = tuple(dict.fromkeys((*aliases_of(self.name), *self.aliases)))
        self.engine = Engine(self.encoder, self.max_input_tokens)
        self.default_key = self.engine.key()
        self.batcher: MicroBatcher | None = None
        self.memory_bytes = parameter_bytes(self.encoder)

    def start(self, lock: threading.Lock | None = None) -> None:
        """Start its batcher's worker; `lock` is shared by every model of a server, so that two models never
        run at once and torch's threads are never shared between two calls."""
        self.batcher = MicroBatcher(lambda key, rows: run_rows(self.encoder, key, rows), self.max_batch_tokens,
                                    lock=lock)

    def info(self) -> dict:
        encoder = self.encoder
        return {"id": self.name, "aliases": list(self.aliases), "dimension": encoder.dimension,
                "max_input_length": self.engine.limit, "pooling": "+".join(encoder.pooling.modes),
                "normalize": encoder.normalize is not None, "prompts": encoder.prompts,
                "backend": encoder.backend, "precision": encoder.precision, "memory_bytes": self.memory_bytes}
