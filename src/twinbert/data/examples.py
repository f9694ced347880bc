"""Typed examples and the ``Dataset`` container every reader returns.

Text is kept exactly as the file holds it (no stripping, no case folding) unless a
reader's docstring says otherwise; only the file format's own escaping is undone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..formats.hashing import files_sha256


@dataclass(frozen=True)
class PairExample:
    """Two texts with a similarity score (STS) and/or a class label (NLI, paraphrase).

    ``label`` is a string member of ``Dataset.labels`` (NLI: ``"entailment"`` ...), or an
    ``int`` index into ``Dataset.labels`` for files whose labels are numeric (MRPC 0/1).
    """

    sentence1: str
    sentence2: str
    score: float | None = None
    label: str | int | None = None


@dataclass(frozen=True)
class TripletExample:
    anchor: str
    positive: str
    negative: str


@dataclass(frozen=True)
class TextExample:
    """One text with its class label (``int`` index into ``Dataset.labels`` or a string),
    or ``None`` for unlabelled text (WikiText)."""

    text: str
    label: str | int | None = None


@dataclass(frozen=True)
class RetrievalData:
    """A retrieval collection: query id -> text, document id -> text, query id -> relevant
    document ids. ``grades`` keeps the raw relevance code of each judged pair
    (query id -> document id -> code) for graded metrics; empty when the source has none."""

    queries: dict[str, str]
    corpus: dict[str, str]
    relevant: dict[str, set[str]]
    grades: dict[str, dict[str, int]] = field(default_factory=dict)


Example = PairExample | TripletExample | TextExample | RetrievalData


@dataclass
class Dataset:
    """What a reader returns.

    ``examples``: the rows, in file order. For a retrieval task it holds a single
    :class:`RetrievalData` (see :attr:`retrieval`).
    ``score_range``: the declared (inclusive) score range, ``None`` without scores.
    ``labels``: the label vocabulary in a fixed order (integer labels index into it),
    ``None`` without labels.
    ``skipped``: ``(1-based line, reason)`` of each row left out because it could not be
    read; always empty unless the reader ran with ``skip_bad_rows=True``. Rows a format
    defines as unusable (SNLI/MNLI gold label ``-``) are dropped by design, not listed.
    ``kind``: ``"sts"``, ``"nli"``, ``"pair-classification"``, ``"classification"``,
    ``"retrieval"``, ``"pairs"``, ``"triplets"`` or ``"text"``.
    ``files``: every file the examples came from (``path`` alone when empty).
    """

    name: str
    split: str
    path: Path
    examples: list
    score_range: tuple[float, float] | None = None
    labels: list[str] | None = None
    skipped: list[tuple[int, str]] = field(default_factory=list)
    kind: str | None = None
    files: tuple[Path, ...] = ()

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def sha256(self) -> str:
        """Hex sha256 of the source file (equal to ``sha256sum FILE``). For a dataset read
        from several files (Cranfield) it is the sha256 of the ``sha256sum``-style listing
        ``"<sha256>  <file name>\\n"`` of every file, sorted by file name."""
        return files_sha256(self.files or (self.path,))

    @property
    def retrieval(self) -> RetrievalData:
        """The collection of a retrieval dataset."""
        if len(self.examples) == 1 and isinstance(self.examples[0], RetrievalData):
            return self.examples[0]
        raise InputError(
            f"dataset {self.name!r} ({self.path}) is not a retrieval collection; "
            "expected a dataset of kind 'retrieval' such as cranfield"
        )
