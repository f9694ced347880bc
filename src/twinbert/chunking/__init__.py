"""Long documents: the chunker (token windows with character spans, cut at sentence ends) and the two
ways to embed a long text, one vector per chunk (``chunks``, and ``late`` chunking). Most users call
``encoder.encode(texts, chunking="chunks" | "late")`` or ``Index.build(..., chunking=...)``."""
from __future__ import annotations

from .chunker import DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP, Chunk, chunk_tokens_of, sentence_starts
from .embed import METHODS, ChunkedEmbeddings, embed_chunked

__all__ = ["DEFAULT_CHUNK_TOKENS", "DEFAULT_OVERLAP", "METHODS", "Chunk", "ChunkedEmbeddings", "chunk_tokens_of",
           "embed_chunked", "sentence_starts"]
