"""Search over embeddings: exact top-k, paraphrase mining, a persistent index, retrieve-and-rerank.

Scores are always "higher = more similar"; for the euclidean and manhattan metrics that
means the NEGATIVE distance (see twinbert.similarity).
"""
from __future__ import annotations

from .exact import semantic_search
from .index import Index
from .mining import paraphrase_mining
from .rerank import search_and_rerank

__all__ = ["Index", "paraphrase_mining", "search_and_rerank", "semantic_search"]
