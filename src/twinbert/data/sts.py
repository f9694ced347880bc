"""Semantic textual similarity readers: STS Benchmark (original release), KorSTS, SICK, KLUE-STS.

Every reader returns a :class:`Dataset` of :class:`PairExample` with ``score`` set, in file
order, with sentences exactly as written in the file.
"""
from __future__ import annotations

from pathlib import Path

from ._io import (
    NLI_LABELS,
    RowError,
    check_width,
    collect,
    column_indexes,
    json_array_records,
    need_keys,
    need_text,
    parse_label,
    parse_score,
    require_rows,
    tsv_rows,
)
from .examples import Dataset, PairExample

STS_RANGE = (0.0, 5.0)
SICK_RANGE = (1.0, 5.0)
STS_COLUMNS = ("genre", "filename", "year", "id", "score", "sentence1", "sentence2")


def _sts_row(fields: list[str], score_i: int, s1_i: int, s2_i: int) -> PairExample:
    score = parse_score(fields[score_i], "score", STS_RANGE)
    return PairExample(need_text(fields[s1_i], "sentence1"), need_text(fields[s2_i], "sentence2"), score)


def read_stsb(path: str | Path, *, skip_bad_rows: bool = False) -> Dataset:
    """STS Benchmark, original release (``sts-{train,dev,test}.csv``, tab-separated despite the
    name): no header, 7 columns ``genre filename year id score sentence1 sentence2``; rows with
    2 extra trailing columns (source attributions) keep the first 7. No quote processing."""
    path = Path(path)
    _, rows = tsv_rows(path, header=False)

    def convert(fields: list[str]) -> PairExample:
        if len(fields) not in (7, 9):
            raise RowError(
                None,
                f"has {len(fields)} tab-separated fields",
                "7 fields (" + " ".join(STS_COLUMNS) + "), or 9 with 2 trailing source columns; "
                "the file is read without quote processing, so a tab inside a sentence shifts the columns",
            )
        return _sts_row(fields, 4, 5, 6)

    examples, skipped = collect(path, rows, convert, skip_bad_rows)
    require_rows(path, examples, skipped)
    return Dataset("stsb", path.stem, path, examples, STS_RANGE, None, skipped, "sts")


def read_korsts(path: str | Path, *, skip_bad_rows: bool = False) -> Dataset:
    """KorSTS (``sts-{train,dev,test}.tsv``): header ``genre filename year id score sentence1
    sentence2``, rows aligned 1:1 with STS Benchmark. No quote processing."""
    path = Path(path)
    header, rows = tsv_rows(path, header=True)
    score_i, s1_i, s2_i = column_indexes(path, header, ("score", "sentence1", "sentence2"))
    width = len(header)

    def convert(fields: list[str]) -> PairExample:
        check_width(fields, width, "as many as the header")
        return _sts_row(fields, score_i, s1_i, s2_i)

    examples, skipped = collect(path, rows, convert, skip_bad_rows)
    require_rows(path, examples, skipped)
    return Dataset("korsts", path.stem, path, examples, STS_RANGE, None, skipped, "sts")


def read_sick(path: str | Path, *, skip_bad_rows: bool = False) -> Dataset:
    """SICK 2014 (``SICK_train.txt``, ``SICK_trial.txt``): header ``pair_ID sentence_A
    sentence_B relatedness_score entailment_judgment``. Each example carries both the
    relatedness ``score`` (1-5) and the entailment ``label``, lowercased to the NLI vocabulary
    ``entailment`` / ``neutral`` / ``contradiction``. No quote processing."""
    path = Path(path)
    header, rows = tsv_rows(path, header=True)
    cols = ("sentence_A", "sentence_B", "relatedness_score", "entailment_judgment")
    a_i, b_i, score_i, label_i = column_indexes(path, header, cols)
    width = len(header)
    file_labels = [label.upper() for label in NLI_LABELS]

    def convert(fields: list[str]) -> PairExample:
        check_width(fields, width, "as many as the header")
        score = parse_score(fields[score_i], "relatedness_score", SICK_RANGE)
        label = parse_label(fields[label_i], "entailment_judgment", file_labels).lower()
        return PairExample(
            need_text(fields[a_i], "sentence_A"), need_text(fields[b_i], "sentence_B"), score, label
        )

    examples, skipped = collect(path, rows, convert, skip_bad_rows)
    require_rows(path, examples, skipped)
    return Dataset("sick", path.stem, path, examples, SICK_RANGE, list(NLI_LABELS), skipped, "sts")


def read_klue_sts(path: str | Path, *, skip_bad_rows: bool = False) -> Dataset:
    """KLUE-STS JSON (``klue-sts-v1.1_dev.json``): a list of objects with ``sentence1``,
    ``sentence2`` and ``labels`` = ``{"label": 0-5, "real-label": ..., "binary-label": 0|1}``.
    ``score`` is ``labels.label``; ``label`` is ``labels.binary-label`` (1 = similar), an index
    into ``Dataset.labels`` = ``["dissimilar", "similar"]``. Line numbers are where each
    object starts."""
    path = Path(path)
    records = json_array_records(path)

    def convert(record: object) -> PairExample:
        record = need_keys(record, ("sentence1", "sentence2", "labels"))
        labels = record["labels"]
        if not isinstance(labels, dict) or "label" not in labels:
            raise RowError("labels", f"is {labels!r}", 'an object with "label" (0-5) and "binary-label" (0 or 1)')
        score = parse_score(labels["label"], "labels.label", STS_RANGE)
        binary = labels.get("binary-label")
        if binary is not None and (type(binary) is not int or binary not in (0, 1)):
            raise RowError("labels.binary-label", f"is {binary!r}", "0 or 1")
        return PairExample(
            need_text(record["sentence1"], "sentence1"), need_text(record["sentence2"], "sentence2"), score, binary
        )

    examples, skipped = collect(path, records, convert, skip_bad_rows)
    require_rows(path, examples, skipped)
    return Dataset("klue-sts", path.stem, path, examples, STS_RANGE, ["dissimilar", "similar"], skipped, "sts")
