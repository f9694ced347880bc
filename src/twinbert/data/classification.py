"""Single-text classification readers: NSMC (Korean movie reviews) and SST-2 (GLUE).

Both are binary sentiment tasks: ``label`` is an ``int`` index into
``Dataset.labels`` = ``["negative", "positive"]``.
"""
from __future__ import annotations

import re
from pathlib import Path

from ._io import RowError, check_width, collect, column_indexes, need_text, parse_label, require_rows, tsv_rows
from .examples import Dataset, TextExample

SENTIMENT_LABELS = ["negative", "positive"]

_QUOTED = re.compile(r'"((?:[^"]|"")*)"', re.DOTALL)


def _csv_unquote(text: str) -> str | None:
    """The content of one CSV-quoted field (quotes around it, inner quotes doubled), or
    ``None`` when the text is not exactly one quoted field."""
    match = _QUOTED.fullmatch(text)
    return match.group(1).replace('""', '"') if match else None


def unescape_nsmc(document: str) -> str:
    """Undo NSMC's double CSV quoting.

    The published ``ratings_*.txt`` were written twice by pandas (``to_csv`` with minimal
    quoting, re-read with quoting off, written again), so every document holding a ``"`` is
    quoted twice: the review ``A "B" C`` is stored as 3 quotes, ``A``, 4 quotes, ``B``, 4
    quotes, `` C``, 3 quotes. A document
    without ``"`` is returned as is; one quoted once is unquoted once.
    """
    if '"' not in document:
        return document
    once = _csv_unquote(document)
    if once is None:
        raise RowError(
            "document",
            f'has a " outside a quoted field: {document[:60]!r}',
            'a document without ", or one enclosed in "..." with inner quotes doubled '
            "(NSMC quotes such documents twice)",
        )
    twice = _csv_unquote(once)
    return once if twice is None else twice


def read_nsmc(path: str | Path, *, skip_bad_rows: bool = False) -> Dataset:
    """NSMC (``ratings_{train,test}.txt``): header ``id document label`` (0 negative,
    1 positive), tab-separated. Documents are unquoted (see :func:`unescape_nsmc`). Empty
    documents (5 in train, 3 in test) are valid rows kept as ``""``: the reviewer gave a
    rating without text, and dropping them would change the official row counts."""
    return _read_sentiment(path, "nsmc", "document", skip_bad_rows, clean=unescape_nsmc, allow_empty=True)


def read_sst2(path: str | Path, *, skip_bad_rows: bool = False) -> Dataset:
    """SST-2, GLUE layout: ``train.tsv`` / ``dev.tsv`` with header ``sentence label``, or
    ``test_labeled.derived.tsv`` with header ``index sentence label`` (GLUE's own ``test.tsv``
    has no labels and is refused: column ``label`` missing). Text is lowercased and
    tokenized upstream, train/dev sentences end with a space; kept as is. No quote
    processing."""
    return _read_sentiment(path, "sst2", "sentence", skip_bad_rows)


def _read_sentiment(path, name: str, text_column: str, skip_bad_rows: bool, *, clean=lambda text: text,
                    allow_empty: bool = False) -> Dataset:
    """A tab-separated file with a header, a text column and a 0/1 ``label`` column."""
    path = Path(path)
    header, rows = tsv_rows(path, header=True)
    text_i, label_i = column_indexes(path, header, (text_column, "label"))
    width = len(header)

    def convert(fields: list[str]) -> TextExample:
        check_width(fields, width, "as many as the header")
        label = parse_label(fields[label_i], "label", ["0", "1"])
        return TextExample(clean(need_text(fields[text_i], text_column, allow_empty=allow_empty)), int(label))

    examples, skipped = collect(path, rows, convert, skip_bad_rows)
    require_rows(path, examples, skipped)
    return Dataset(name, path.stem, path, examples, None, list(SENTIMENT_LABELS), skipped, "classification")
