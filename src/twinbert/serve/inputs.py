"""The shared first step of the embedding routes: `input` / `inputs` as texts or token ids, counted
against max_client_batch_size (413) and refused when empty (400), then turned into engine rows."""
from __future__ import annotations

from .engine import EmbedKey, Engine, Rows
from .errors import ApiError


def to_rows(engine: Engine, value, key: EmbedKey, *, name: str, max_batch: int, truncate: bool = True,
            direction: str = "Right") -> Rows:
    """Rows of a request's inputs: a text, texts, token ids, or lists of token ids."""
    if isinstance(value, str):
        value = [value]
    count_inputs(len(value), name, max_batch)
    if all(isinstance(v, int) for v in value):
        value = [value]  # one list of token ids
    if all(isinstance(v, list) for v in value):
        if key.options.prompt:
            raise ApiError(422, f"{name}: token ids cannot take a prompt; send texts", name)
        return engine.token_ids(value, truncate=truncate)
    return engine.texts(value, key, truncate=truncate, left=direction.lower() == "left")


def count_inputs(count: int, name: str, max_batch: int) -> None:
    if count == 0:
        raise ApiError(400, f"{name} is empty: send at least one input", name)
    if count > max_batch:
        raise ApiError(413, f"batch size {count} > maximum allowed batch size {max_batch} "
                            "(max_client_batch_size)", name)
