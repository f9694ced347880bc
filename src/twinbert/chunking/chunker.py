"""The chunker: a long text -> windows of its own tokens, each with its character span.

A document is tokenized once, whole, by the model's own tokenizer (Transformer.pieces_with_offsets),
and cut into chunks of at most `chunk_tokens` tokens that start `overlap` tokens (or fewer) before the
previous chunk's end. Cuts fall where a sentence starts whenever one lies in the back half of the
window, else where a word starts, else anywhere (a single "word" longer than the window). A sentence
ends at . ! ? … and their full-width forms followed by a space or a closing quote / bracket (Korean
'다.' and '요.' included), at 。 ！ ？ (CJK text has no space after them) and at every line break. A
paragraph break counts as one more sentence end and no more, so the chunks do not depend on a
document's paragraph marks.

Each chunk's span is (first token's first character, last token's last character) of the original
text: the spans cover every non-space character, and `text[start:end]` is the chunk's passage.
"""
from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from ..checks import positive_int
from ..errors import InputError

# Why these defaults: 256 tokens is the chunk size of the late-chunking paper's experiments and about
# one paragraph of prose (~600 Korean characters for XLM-R's tokenizer); 32 tokens (one or two
# sentences) of overlap keeps a statement cut at a chunk's end whole in the next chunk.
# Chosen on korquad-docs dev with multilingual-e5-small (benchmarks/RESULTS.md).
DEFAULT_CHUNK_TOKENS = 256
DEFAULT_OVERLAP = 32

# a sentence ends after these (then spaces, closing quotes / brackets) ...
_SENTENCE_END = re.compile(r"""(?:[.!?…．！？]+['"’”»)\]」』]*(?=\s)|[。！？]+['"’”»)\]」』]*|\n)\s*""")


@dataclass(frozen=True)
class Chunk:
    """One chunk: tokens [first, last) of the document's own tokens, characters [start, end)."""

    first: int
    last: int
    start: int
    end: int


def sentence_starts(text: str) -> list[int]:
    """Character positions where a sentence begins (after a sentence end and the spaces after it)."""
    return sorted({m.end() for m in _SENTENCE_END.finditer(text) if m.end() < len(text)})


def check_sizes(chunk_tokens: int, overlap: int, limit: int) -> tuple[int, int]:
    """chunk_tokens in 1..limit (the tokens a chunk may have beside special tokens and prompt) and
    overlap in 0..chunk_tokens // 2, or an InputError naming the argument."""
    positive_int(chunk_tokens, "chunk_tokens")
    if chunk_tokens > limit:
        raise InputError(f"chunk_tokens={chunk_tokens} is more than this model can take in one window ({limit} "
                         "tokens beside its special tokens and prompt); give at most that", argument="chunk_tokens")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap <= chunk_tokens // 2:
        raise InputError(f"overlap={overlap!r}: expected an integer from 0 to half of chunk_tokens "
                         f"({chunk_tokens // 2})", argument="overlap")
    return chunk_tokens, overlap


def chunk_tokens_of(text: str, offsets: list[tuple[int, int]], chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
                    overlap: int = DEFAULT_OVERLAP) -> list[Chunk]:
    """Cut one text, given its tokens' character offsets, into chunks (see the module docstring).
    A text without tokens (empty, only spaces) gives one empty chunk, so every text has a chunk."""
    n = len(offsets)
    if n == 0:
        return [Chunk(0, 0, 0, 0)]
    sentences = _token_positions(sentence_starts(text), [end for _, end in offsets])
    words = [i for i in range(1, n) if offsets[i][0] > offsets[i - 1][1] or text[offsets[i][0]:offsets[i][0] + 1].isspace()
             or text[offsets[i][0] - 1:offsets[i][0]].isspace()]
    chunks, first = [], 0
    while True:
        last = min(first + chunk_tokens, n)
        if last < n:
            last = _cut(sentences, first + chunk_tokens // 2, last) or _cut(words, first + chunk_tokens // 2, last) or last
        start, end = offsets[first][0], offsets[last - 1][1]
        while start < end and text[start].isspace():  # a "▁" token's span starts at the space before it
            start += 1
        chunks.append(Chunk(first, last, start, end))
        if last == n:
            return chunks
        first = _next_start(sentences, words, first, last, overlap)


def _token_positions(chars: list[int], token_ends: list[int]) -> list[int]:
    """The token holding each character position, or the next one (no token 0, no duplicates). Holding:
    SentencePiece's "▁" tokens take the space before a word into their span."""
    found = {bisect_right(token_ends, c) for c in chars}
    return sorted(i for i in found if 0 < i < len(token_ends))


def _cut(candidates: list[int], low: int, high: int) -> int | None:
    """The last candidate in (low, high], or None."""
    k = bisect_right(candidates, high)
    return candidates[k - 1] if k and candidates[k - 1] > low else None


def _next_start(sentences: list[int], words: list[int], first: int, last: int, overlap: int) -> int:
    """Where the chunk after [first, last) starts: `overlap` tokens or fewer before `last`, at the first
    sentence start in that stretch, else the first word start, else exactly `overlap` back."""
    if overlap == 0:
        return last
    low = max(first + 1, last - overlap)
    for candidates in (sentences, words):
        k = bisect_left(candidates, low)
        if k < len(candidates) and candidates[k] <= last:
            return candidates[k]
    return low


__all__ = ["DEFAULT_CHUNK_TOKENS", "DEFAULT_OVERLAP", "Chunk", "check_sizes", "chunk_tokens_of", "sentence_starts"]
