"""The server's path into the encoder: texts (or token ids) -> checked rows of token ids -> vectors.

Requests are tokenized where they arrive (so that limits and `usage` counts are known at once); the
micro-batcher (batcher.py) then packs the rows of many requests into one call of `run_rows`, which runs
them through the one batching engine (twinbert.batching) and the encoder's own pool-and-project path,
exactly as `SentenceEncoder.encode` does, so a vector served equals the vector encoded.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from ..encode_options import EncodeOptions
from ..encoder import SentenceEncoder
from ..errors import InputError
from ..quantize import truncate


class TooLong(InputError):
    """An input over the token limit while truncation is off (HTTP 413)."""


@dataclass(frozen=True)
class EmbedKey:
    """What a batch must share: the encode options and the prompt's length (rows of different keys never
    share an engine call)."""
    options: EncodeOptions
    prompt_length: int = 0


@dataclass
class Rows:
    """One request's inputs as token ids, ready for the engine."""
    ids: list[list[int]]
    types: list[list[int]] | None

    @property
    def tokens(self) -> int:
        return sum(len(row) for row in self.ids)


class Engine:
    """The encoder and what the server needs to know about it, computed once."""

    def __init__(self, encoder: SentenceEncoder, max_input_tokens: int | None = None):
        self.encoder = encoder
        self.limit = min(max_input_tokens or encoder.max_seq_length, encoder.max_seq_length)
        self.vocab_size = int(encoder.transformer.model_config.vocab_size)

    @cached_property
    def frame(self) -> tuple[list[int], list[int]]:
        """Special tokens before and after one text ([CLS] ... [SEP])."""
        return self.encoder.transformer.special_frame()

    def key(self, *, normalize: bool | None = None, output: str = "sentence", prompt_name: str | None = None,
            pooling: str | None = None) -> EmbedKey:
        """The checked options of a request (an unknown prompt name or pooling is an InputError)."""
        options = self.encoder.options(normalize=normalize, output=output, prompt_name=prompt_name, pooling=pooling)
        _, length = self.encoder.apply_prompt([], options.prompt)
        return EmbedKey(options, length)

    def texts(self, texts: list[str], key: EmbedKey, *, truncate: bool = True, left: bool = False) -> Rows:
        """Token ids of texts, the key's prompt first. A text over the limit is cut (from the end, or from
        the start with `left`) when `truncate`, else refused naming it (TooLong)."""
        full, _ = self.encoder.apply_prompt(texts, key.options.prompt)
        transformer = self.encoder.transformer
        tokens = transformer.tokenize(full)
        ids, types = tokens.input_ids, tokens.token_type_ids
        for i, row in enumerate(ids):
            length = len(row)
            if length == self.encoder.max_seq_length and tokens.truncated:
                length = len(transformer.pieces([full[i]])[0]) + len(self.frame[0]) + len(self.frame[1])
            if length <= self.limit:
                continue
            if not truncate:
                raise TooLong(f"inputs[{i}] has {length} tokens, more than the limit of {self.limit} "
                              "(max_input_tokens); send truncate=true to cut it", argument="inputs")
            ids[i] = self._cut(row, full[i], left, key.prompt_length)
            types[i] = types[i][:len(ids[i])]
        return Rows(ids, types)

    def _cut(self, row: list[int], text: str, left: bool, prompt_length: int = 0) -> list[int]:
        """`row` cut to the limit, keeping its special tokens; from the start with `left`, where a prompt
        (its first `prompt_length` tokens, the leading special token included) is kept whole."""
        head, tail = self.frame
        room = max(self.limit - len(head) - len(tail), 0)
        if left:
            body = self.encoder.transformer.pieces([text])[0]
            keep = min(max(prompt_length - len(head), 0), room)  # the prompt's pieces stay in front
            return head + body[:keep] + body[len(body) - (room - keep):] + tail
        return row[:len(head) + room] + tail

    def token_ids(self, inputs: list[list[int]], *, truncate: bool = True) -> Rows:
        """Rows from token ids of the model's vocabulary (no special tokens: they are added)."""
        head, tail = self.frame
        room = self.limit - len(head) - len(tail)
        rows = []
        for i, ids in enumerate(inputs):
            bad = next((t for t in ids if not 0 <= t < self.vocab_size), None)
            if bad is not None:
                raise InputError(f"input[{i}] has token id {bad}, outside this model's vocabulary "
                                 f"(0..{self.vocab_size - 1})", argument="input")
            if len(ids) > room and not truncate:
                raise TooLong(f"input[{i}] has {len(ids) + len(head) + len(tail)} tokens, more than the limit "
                              f"of {self.limit}", argument="input")
            rows.append(head + list(ids[:room]) + tail)
        return Rows(rows, None)


def run_rows(encoder: SentenceEncoder, key: EmbedKey, rows: Rows) -> np.ndarray | list[np.ndarray]:
    """Vectors of token-id rows through the encoder's own path (`SentenceEncoder.run_tokens`), as encode()
    computes them: [n, dim] float32, or one [tokens_i, hidden] array per row for output="token"."""
    options = key.options
    budget = _budget(rows, options.batch_tokens, encoder.workers, encoder.device)
    return encoder.run_tokens(rows.ids, rows.types, options, prompt_length=key.prompt_length, batch_tokens=budget)


def _budget(rows: Rows, batch_tokens: int, workers: int | None, device) -> int:
    """The token budget of one padded batch for a packed call: the request's own budget, cut down so that
    every CPU worker gets about two length-sorted batches. A packed call holds many short rows of mixed
    lengths; one batch padded to the longest would run on one worker and mostly compute padding (measured
    on 2 cores: 20 STS-B sentences as one batch 172 ms, as ~8 batches on both workers much less)."""
    if torch.device(device).type != "cpu":
        return batch_tokens
    workers = workers or torch.get_num_threads()
    total = sum(len(r) for r in rows.ids)
    return max(1, min(batch_tokens, total // (2 * max(workers, 1))))


def shorten(vectors: np.ndarray, dimensions: int | None, renormalize: bool) -> np.ndarray:
    """Matryoshka: the first `dimensions` values of each vector, L2-normalized again when `renormalize`
    (twinbert.quantize.truncate, as encode(truncate_dim=...) does); more than the model has is refused."""
    if dimensions is not None and dimensions > vectors.shape[1]:
        raise InputError(f"dimensions={dimensions} is more than the model's {vectors.shape[1]}",
                         argument="dimensions")
    return truncate(vectors, dimensions, renormalize)
