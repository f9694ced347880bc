"""Long texts -> one vector per chunk, two ways, both through the encoder's one batching engine
(SentenceEncoder.run_tokens):

``chunks``  every chunk is encoded on its own, exactly as encode() encodes a text: the special tokens,
            the prompt (e5's "passage: "), the chunk's tokens; pooled with the model's pooling.
``late``    late chunking (Günther et al. 2024, "Late Chunking: Contextual Chunk Embeddings Using
            Long-Context Embedding Models", arXiv:2409.04701): the document runs through the backbone in
            windows as long as the model's position table allows (512 tokens for BERT / e5), each
            window framed by the special tokens with the prompt once at its start; then the token
            states of each chunk's span (its own tokens only: not the prompt, not the special tokens)
            are pooled with the model's pooling, and the model's Dense / Normalize modules follow. So
            every chunk vector has seen its neighbours. A document longer than one window is covered by
            windows half a window apart; each chunk is pooled from the window that holds it with the
            most context on its tighter side (a chunk no such window holds whole gets a window centred
            on it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..checks import choice
from ..errors import InputError
from ..modules.pooling import pool
from ..quantize import truncate
from .chunker import DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP, Chunk, check_sizes, chunk_tokens_of

METHODS = ("chunks", "late")
GROUP_TOKENS = 65536  # late chunking: windows whose token states are held at once (~100 MB at 384 wide)


@dataclass
class ChunkedEmbeddings:
    """One vector per chunk: ``vectors[i]`` is of ``texts[document[i]][spans[i, 0]:spans[i, 1]]``.
    Chunks come in text order, and in order within a text; every text has at least one."""

    vectors: np.ndarray    # [chunks, dimension]
    document: np.ndarray   # int64 [chunks]: the position of the chunk's text in the input
    spans: np.ndarray      # int64 [chunks, 2]: its characters [start, end) in that text
    chunking: dict = field(default_factory=dict)  # {"method", "chunk_tokens", "overlap"}: recorded with results

    def __len__(self) -> int:
        return len(self.vectors)

    def passages(self, texts: list[str]) -> list[str]:
        """The text of each chunk, from the texts that were encoded."""
        return [texts[d][s:e] for d, (s, e) in zip(self.document.tolist(), self.spans.tolist())]


@dataclass
class _Plan:
    pieces: list[list[int]]       # each text's tokens (no special tokens)
    chunks: list[list[Chunk]]     # each text's chunks
    head: list[int]               # special tokens + prompt before the content
    tail: list[int]               # special tokens after it
    prompt_length: int            # of `head`, for Pooling's include_prompt (0 without a prompt)


def chunk_limit(encoder, prompt: str | None) -> int:
    """The most tokens a chunk may hold: max_seq_length less the special tokens and the prompt's."""
    head, tail = encoder.transformer.special_frame()
    prompt_tokens = len(encoder.transformer.pieces([prompt])[0]) if prompt else 0
    return max(1, encoder.max_seq_length - len(head) - len(tail) - prompt_tokens)


def sizes(encoder, prompt: str | None, chunk_tokens: int | None, overlap: int | None) -> tuple[int, int]:
    """chunk_tokens and overlap as given (checked) or their defaults, fitted to this model."""
    limit = chunk_limit(encoder, prompt)
    chunk_tokens = min(DEFAULT_CHUNK_TOKENS, limit) if chunk_tokens is None else chunk_tokens
    overlap = min(DEFAULT_OVERLAP, chunk_tokens // 2) if overlap is None else overlap
    return check_sizes(chunk_tokens, overlap, limit)


def plan(encoder, texts: list[str], prompt: str | None, chunk_tokens: int, overlap: int) -> _Plan:
    """Tokenize each text whole (the model's own tokenizer) and cut it into chunks."""
    transformer = encoder.transformer
    head, tail = transformer.special_frame()
    prompt_ids = transformer.pieces([prompt])[0] if prompt else []
    tokenized = transformer.pieces_with_offsets(texts)
    chunks = [chunk_tokens_of(text, offsets, chunk_tokens, overlap) for text, (_, offsets) in zip(texts, tokenized)]
    return _Plan([ids for ids, _ in tokenized], chunks, head + prompt_ids, tail,
                 len(head) + len(prompt_ids) if prompt else 0)


def embed_chunked(encoder, texts: list[str], options, method: str, chunk_tokens: int | None = None,
                  overlap: int | None = None) -> ChunkedEmbeddings:
    """Chunk `texts` and embed each chunk by `method` ("chunks" or "late"; see the module docstring),
    with encode()'s checked `options` (output="sentence")."""
    choice(method, "chunking", METHODS)
    if options.output != "sentence":
        raise InputError(f"chunking gives one sentence vector per chunk; output={options.output!r} cannot be "
                         "combined with it", argument="output")
    if method == "late" and "pooler" in options.pooling:
        raise InputError("late chunking pools token states; pooling 'pooler' (the [CLS] head) has none per chunk",
                         argument="pooling")
    chunk_tokens, overlap = sizes(encoder, options.prompt, chunk_tokens, overlap)
    planned = plan(encoder, texts, options.prompt, chunk_tokens, overlap)
    document = np.array([d for d, found in enumerate(planned.chunks) for _ in found], dtype=np.int64)
    spans = np.array([(c.start, c.end) for found in planned.chunks for c in found], dtype=np.int64).reshape(-1, 2)
    if method == "chunks":
        rows = [planned.head + planned.pieces[d][c.first:c.last] + planned.tail
                for d, found in enumerate(planned.chunks) for c in found]
        vectors = encoder.run_tokens(rows, None, options, prompt_length=planned.prompt_length)
    else:
        vectors = _late(encoder, planned, options)
    record = {"method": method, "chunk_tokens": chunk_tokens, "overlap": overlap}
    return ChunkedEmbeddings(vectors, document, spans, record)


# ----------------------------------------------------------------- late chunking

def windows_of(length: int, width: int, chunks: list[Chunk]) -> tuple[list[int], list[int]]:
    """(window starts, the window of each chunk) for a text of `length` tokens seen `width` tokens at a
    time: windows half a window apart, each chunk in the one that holds it with the most context on its
    tighter side; a chunk no window holds whole gets one centred on it."""
    if length <= width:
        return [0], [0] * len(chunks)
    count = math.ceil((length - width) / max(1, width // 2)) + 1
    starts = sorted({round(j * (length - width) / (count - 1)) for j in range(count)})
    chosen = []
    for c in chunks:
        room = [(min(c.first - s, s + width - c.last), j) for j, s in enumerate(starts)
                if s <= c.first and c.last <= s + width]
        if not room:
            starts.append(min(max(0, (c.first + c.last) // 2 - width // 2), length - width))
            room = [(0, len(starts) - 1)]
        chosen.append(max(room)[1])
    return starts, chosen


def _late(encoder, planned: _Plan, options) -> np.ndarray:
    width = encoder.transformer.position_limit - len(planned.head) - len(planned.tail)
    if width < 1:
        raise InputError(f"late chunking: the prompt leaves no room in a window of "
                         f"{encoder.transformer.position_limit} tokens", argument="prompt")
    jobs = []  # (window row, [(chunk number, first, last) in the window's tokens])
    number = 0
    for ids, chunks in zip(planned.pieces, planned.chunks):
        starts, chosen = windows_of(len(ids), width, chunks)
        spans: dict[int, list] = {}
        for c, j in zip(chunks, chosen):
            spans.setdefault(j, []).append((number, c.first - starts[j], c.last - starts[j]))
            number += 1
        for j, found in sorted(spans.items()):
            jobs.append((planned.head + ids[starts[j]:starts[j] + width] + planned.tail, found))
    token_options = replace(options, output="token", normalize=False, truncate_dim=None)
    head = encoder.head(options)[1:]  # Dense ..., Normalize: after the pooling of each span
    result = None
    for group in _groups(jobs):
        states = encoder.run_tokens([row for row, _ in group], None, token_options)
        pooled = _pool_spans(encoder.head(options)[0].modes, states, [spans for _, spans in group],
                             len(planned.head))
        with torch.inference_mode():
            vectors = encoder.pool_and_project({"sentence_embedding": pooled[1]}, head)["sentence_embedding"]
        if result is None:
            result = np.zeros((number, vectors.shape[1]), dtype=np.float32)
        result[pooled[0]] = vectors.float().cpu().numpy()
    if options.truncate_dim is not None:
        result = truncate(result, options.truncate_dim, options.normalize)
    return result


def _groups(jobs: list) -> list[list]:
    """The windows in groups of about GROUP_TOKENS tokens, so that token states are held a group at a time."""
    groups, current, tokens = [], [], 0
    for job in jobs:
        current.append(job)
        tokens += len(job[0])
        if tokens >= GROUP_TOKENS:
            groups.append(current)
            current, tokens = [], 0
    return groups + ([current] if current else [])


def _pool_spans(modes, states: list[np.ndarray], spans: list[list], offset: int) -> tuple[np.ndarray, torch.Tensor]:
    """(chunk numbers, pooled vectors) of every chunk span of every window: the window's token states
    under a mask that keeps the span's tokens (a text without tokens: the whole window)."""
    numbers, pooled = [], []
    for window, found in zip(states, spans):
        window_states = torch.from_numpy(window).unsqueeze(0).expand(len(found), -1, -1)
        mask = torch.zeros((len(found), window.shape[0]), dtype=torch.long)
        for row, (number, first, last) in enumerate(found):
            numbers.append(number)
            if last > first:
                mask[row, offset + first:offset + last] = 1
            else:
                mask[row, :] = 1
        pooled.append(pool(modes, window_states, mask))
    return np.array(numbers, dtype=np.int64), torch.cat(pooled)


__all__ = ["METHODS", "ChunkedEmbeddings", "chunk_limit", "embed_chunked", "plan", "sizes", "windows_of"]
