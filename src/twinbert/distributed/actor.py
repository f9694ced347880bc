"""The actor of the pool: loads the model once, then encodes the blocks Ray Data hands it with the one
batching engine (SentenceEncoder.run), returning each row's id (and pass-through columns) with its vector."""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import InputError


class EncodeActor:
    """Callable class for Dataset.map_batches(compute=ActorPoolStrategy): one instance per actor."""

    def __init__(self, model: Any, model_kwargs: dict, encode_kwargs: dict, column: str, id_column: str,
                 keep: tuple[str, ...], threads: int):
        import torch

        from .. import load

        torch.set_num_threads(max(1, threads))
        # a model name or folder is loaded here, once per actor; an encoder object came pickled
        self.encoder = load(model, **model_kwargs) if isinstance(model, (str, os.PathLike)) else model
        self.options = self.encoder.options(**encode_kwargs)
        self.column, self.id_column, self.keep = column, id_column, keep

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for name in (self.column, self.id_column, *self.keep):
            if name not in batch:
                raise InputError(f"the dataset has no column {name!r} (columns: {', '.join(batch)}); give "
                                 "column= / id_column= for the columns that hold the text and the row id",
                                 argument="column" if name == self.column else "id_column")
        texts = [t if isinstance(t, str) else "" if t is None else str(t) for t in batch[self.column].tolist()]
        vectors = self.encoder.run(texts, self.options)
        out = {"id": np.asarray(batch[self.id_column]), "embedding": np.asarray(vectors, np.float32)}
        out.update({name: batch[name] for name in self.keep})
        return out
