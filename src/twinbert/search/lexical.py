"""Lexical search: BM25 over analysed terms (twinbert.search.analysers), on the bm25s library.

Why bm25s (measured on korquad dev, 964 passages, 3,316 questions, the same Kiwi terms for both,
benchmarks/korean_search.py): bm25s (BM25 "lucene" variant, k1 1.2, b 0.75) 0.953 nDCG@10 against
tantivy's 0.943 (tantivy stores each document's length in one lossy byte); bm25s is numpy + scipy
arrays that save as .npy files and load memory-mapped, scores every document of a query in one
vectorised pass (which the fusion needs: the lexical score of any dense candidate), takes terms we
analysed ourselves with no tokenizer of its own in the way, and is maintained (releases through
2025). tantivy's Python binding panicked on a field type mismatch in our trial and wants its own
folder of segment files, which does not fit an index folder written atomically.

BM25 (Robertson et al.) in Lucene's variant: an idf that is never negative, and without the constant
factor (k1 + 1), which changes no ranking. For a query q and document d of |d| terms in a collection of
N documents of mean length avgdl:

    score(q, d) = sum over query terms t of  idf(t) * tf(t, d) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))
    idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

A query term repeated counts once per occurrence; a term no document holds adds nothing.

bm25s computes each document's part of the sum when the index is built, so ``add`` builds the
bm25s arrays again from the stored term ids (every score depends on N and avgdl): no text is analysed
twice, and the index returned is new (the old one stays as it was if anything fails).
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..extras import require
from ..formats.index_folder import LEXICAL_FILES
from .analysers import Analyser, AnalyserConfig

LIBRARY = "bm25s"
METHOD = "lucene"


@dataclass(frozen=True)
class LexicalConfig:
    """The settings of a lexical index, saved with it."""

    analyser: AnalyserConfig = field(default_factory=AnalyserConfig)
    k1: float = 1.2   # term-frequency saturation (Lucene's and Elasticsearch's default)
    b: float = 0.75   # document-length normalisation

    def __post_init__(self):
        for name, low, high in (("k1", 0.0, 10.0), ("b", 0.0, 1.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise InputError(f"{name}={value!r}: expected a number in [{low}, {high}]", argument=name)

    def to_dict(self) -> dict:
        return {"library": LIBRARY, "method": METHOD, "analyser": self.analyser.to_dict(), "k1": self.k1, "b": self.b}

    @classmethod
    def from_dict(cls, data: dict) -> LexicalConfig:
        return cls(AnalyserConfig.from_dict(data.get("analyser") or {}), float(data["k1"]), float(data["b"]))


class _TermRows:
    """The documents' term ids as bm25s reads them (``.ids``: a re-iterable sequence of lists,
    ``.vocab``), made one document at a time from the flat arrays instead of a list of lists
    (a million documents as Python lists of ints would take gigabytes)."""

    def __init__(self, terms: np.ndarray, offsets: np.ndarray, vocab: dict[str, int]):
        self._terms, self._offsets, self.vocab = terms, offsets, vocab
        self.ids = self

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __iter__(self) -> Iterator[list[int]]:
        for start, end in zip(self._offsets[:-1].tolist(), self._offsets[1:].tolist()):
            yield self._terms[start:end].tolist()


def _bm25s():
    bm25s = require("bm25s", "lexical search (BM25)")
    # bm25s sets its own logger to DEBUG on import, which prints a line per index build under any
    # application's INFO logging; its warnings still show
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def _bm25(config: LexicalConfig, terms: np.ndarray, offsets: np.ndarray, vocab: dict[str, int]):
    bm25s = _bm25s()
    engine = bm25s.BM25(k1=config.k1, b=config.b, method=METHOD, backend="numpy")
    engine.index(_TermRows(terms, offsets, vocab), create_empty_token=False, show_progress=False)
    return engine


class LexicalIndex:
    """BM25 over the analysed texts of an index's rows, row i = the i-th text given.

    ``vocab`` maps each term to its id ("" is id 0, a term no analyser makes, so the vocabulary is
    never empty); ``terms`` holds every row's term ids end to end, row i at
    ``terms[offsets[i]:offsets[i + 1]]``; ``engine`` is the bm25s index over them.
    """

    def __init__(self, config: LexicalConfig, vocab: dict[str, int], terms: np.ndarray, offsets: np.ndarray,
                 engine: Any = None, threads: int = 1):
        self.config = config
        self.vocab = vocab
        self.terms = terms
        self.offsets = offsets
        self.engine = engine if engine is not None else _bm25(config, terms, offsets, vocab)
        self.analyser = Analyser(config.analyser, threads=threads)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def build(cls, texts: Sequence[str], config: LexicalConfig | None = None, *, threads: int = 1) -> LexicalIndex:
        """Analyse ``texts`` and index them. threads: Kiwi's worker threads for the analysis."""
        config = config or LexicalConfig()
        empty = cls.__new__(cls)
        empty.config, empty.vocab = config, {"": 0}
        empty.terms, empty.offsets = np.zeros(0, np.int32), np.zeros(1, np.int64)
        empty.analyser = Analyser(config.analyser, threads=threads)
        return empty.add(texts)

    def add(self, texts: Sequence[str]) -> LexicalIndex:
        """A new index: these rows plus ``texts`` analysed (this one is left unchanged)."""
        bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
        if bad is not None:
            raise InputError(f"lexical index: text {bad} is {type(texts[bad]).__name__}; the lexical part "
                             "indexes texts (give texts for every row)", argument="texts")
        vocab = dict(self.vocab)
        rows = [np.fromiter((vocab.setdefault(term, len(vocab)) for term in terms), dtype=np.int32)
                for terms in self.analyser(list(texts))]
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        terms = np.concatenate([self.terms, *rows]) if rows else self.terms
        offsets = np.concatenate([self.offsets, self.offsets[-1] + np.cumsum(lengths)])
        return LexicalIndex(self.config, vocab, terms, offsets, threads=self.analyser.threads)

    def query_terms(self, queries: Sequence[str]) -> list[np.ndarray]:
        """Each query's term ids, terms the index does not hold left out."""
        return [np.fromiter((self.vocab[t] for t in terms if t in self.vocab), dtype=np.int32)
                for terms in self.analyser(list(queries))]

    def scores(self, term_ids: np.ndarray) -> np.ndarray:
        """The BM25 score of every row for one query's term ids: float32 [len(self)]."""
        if len(term_ids) == 0:
            return np.zeros(len(self), np.float32)
        return np.asarray(self.engine.get_scores_from_ids(term_ids), dtype=np.float32)

    def search(self, queries: Sequence[str], k: int = 10) -> list[list[tuple[int, float]]]:
        """The ``k`` best rows of each query as (row, score), best first; rows scoring 0 (no query
        term in common) are left out, ties broken by row."""
        hits = []
        for ids in self.query_terms(queries):
            scores = self.scores(ids)
            hits.append(top_k(scores, k))
        return hits

    # ------------------------------------------------------------- files (twinbert.formats.index_folder)

    def record(self) -> dict:
        """What meta.json keeps of this part (index_folder adds the files' sha256)."""
        return {**self.config.to_dict(), "count": len(self), "vocabulary": len(self.vocab)}

    def write(self, folder: Path) -> None:
        """Write this part's files (index_folder.LEXICAL_FILES) into ``folder``: bm25s's own save,
        and the term ids that ``add`` rebuilds from."""
        names = dict(zip(("params_name", "vocab_name", "data_name", "indices_name", "indptr_name"), LEXICAL_FILES))
        self.engine.save(folder, show_progress=False, **names)
        np.save(folder / LEXICAL_FILES[5], np.ascontiguousarray(self.terms), allow_pickle=False)
        np.save(folder / LEXICAL_FILES[6], np.ascontiguousarray(self.offsets), allow_pickle=False)

    @classmethod
    def read(cls, folder: Path, record: dict, *, threads: int = 1) -> LexicalIndex:
        """The part index_folder.read checked (files present, sha256 as recorded), arrays memory-mapped."""
        bm25s = _bm25s()
        names = dict(zip(("params_name", "vocab_name", "data_name", "indices_name", "indptr_name"), LEXICAL_FILES))
        try:
            engine = bm25s.BM25.load(folder, mmap=True, show_progress=False, **names)
            terms = np.load(folder / LEXICAL_FILES[5], mmap_mode="r", allow_pickle=False)
            offsets = np.load(folder / LEXICAL_FILES[6], allow_pickle=False)
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"{folder}: the lexical part cannot be read ({exc}); rebuild the index") from exc
        config = LexicalConfig.from_dict(record)
        count = record["count"]
        if len(offsets) != count + 1 or int(engine.scores["num_docs"]) != count or int(offsets[-1]) != len(terms):
            raise InputError(f"{folder}: the lexical files hold {len(offsets) - 1} rows ({engine.scores['num_docs']} "
                             f"in bm25s's), but meta.json says count={count}; rebuild the index")
        return cls(config, dict(engine.vocab_dict), terms, offsets, engine=engine, threads=threads)


def top_k(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """(row, score) of the ``k`` highest positive scores, best first, ties by row."""
    k = min(k, len(scores))
    if k == 0:
        return []
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    part = part[scores[part] > 0]
    order = np.lexsort((part, -scores[part]))
    return [(int(i), float(scores[i])) for i in part[order]]


__all__ = ["LIBRARY", "LexicalConfig", "LexicalIndex", "top_k"]
