"""Sentence-pair classification readers: NLI (KorNLI, SNLI, MultiNLI, SICK, KLUE-NLI) and
binary pair classification (RTE, MRPC).

Label conventions:

* NLI (3-way): ``label`` is a string from ``Dataset.labels`` =
  ``["entailment", "neutral", "contradiction"]`` (SICK's upper-case labels are lowercased).
* Binary pair classification: ``label`` is an ``int`` index into ``Dataset.labels``, and 1 is
  always the positive class (MRPC ``["not_equivalent", "equivalent"]``, RTE
  ``["not_entailment", "entailment"]``).

Sentences are kept exactly as written (MultiNLI's leading/trailing spaces included).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ._io import (
    NLI_LABELS,
    RowError,
    check_width,
    collect,
    column_indexes,
    csv_rows,
    json_array_records,
    need_keys,
    need_text,
    parse_label,
    require_rows,
    tsv_rows,
)
from .examples import Dataset, PairExample
from .sts import read_sick

RTE_LABELS = ["not_entailment", "entailment"]
MRPC_LABELS = ["not_equivalent", "equivalent"]


def _read_tsv_pairs(path: Path, columns: tuple[str, str, str], file_labels: list[str], skip_bad_rows: bool):
    header, rows = tsv_rows(path, header=True)
    s1_i, s2_i, label_i = column_indexes(path, header, columns)
    width = len(header)

    def convert(fields: list[str]) -> tuple[str, str, str]:
        check_width(fields, width, "as many as the header")
        label = parse_label(fields[label_i], columns[2], file_labels)
        return need_text(fields[s1_i], columns[0]), need_text(fields[s2_i], columns[1]), label

    triples, skipped = collect(path, rows, convert, skip_bad_rows)
    require_rows(path, triples, skipped)
    return triples, skipped


def read_kornli(path: str | Path, *, skip_bad_rows: bool = False) -> Dataset:
    """KorNLI (``xnli.{dev,test}.ko.tsv``): header ``sentence1 sentence2 gold_label``.
    No quote processing."""
    path = Path(path)
    triples, skipped = _read_tsv_pairs(path, ("sentence1", "sentence2", "gold_label"), NLI_LABELS, skip_bad_rows)
    examples = [PairExample(a, b, None, label) for a, b, label in triples]
    return Dataset("kornli", path.stem, path, examples, None, list(NLI_LABELS), skipped, "nli")


def read_nli_csv(path: str | Path, *, skip_bad_rows: bool = False) -> Dataset:
    """SNLI / MultiNLI in CSV (``snli_1.0_{dev,test}.csv``, ``multinli_1.0_dev_*.csv``): header
    ``pairID,sentence1,sentence2,label``, standard CSV quoting. Rows with gold label ``-``
    (no annotator majority) are dropped by design, as is customary; they are not listed in
    ``skipped``."""
    path = Path(path)
    header, rows = csv_rows(path, header=True)
    s1_i, s2_i, label_i = column_indexes(path, header, ("sentence1", "sentence2", "label"))
    width = len(header)

    def convert(fields: list[str]) -> PairExample | None:
        if len(fields) != width:
            raise RowError(None, f"has {len(fields)} fields", f"{width} comma-separated fields, as in the header")
        if fields[label_i] == "-":
            return None
        label = parse_label(fields[label_i], "label", NLI_LABELS + ["-"])
        return PairExample(need_text(fields[s1_i], "sentence1"), need_text(fields[s2_i], "sentence2"), None, label)

    examples, skipped = collect(path, rows, convert, skip_bad_rows)
    require_rows(path, examples, skipped)
    name = "mnli" if "multinli" in path.name.lower() else "snli"
    return Dataset(name, path.stem, path, examples, None, list(NLI_LABELS), skipped, "nli")


def read_sick_nli(path: str | Path, *, skip_bad_rows: bool = False) -> Dataset:
    """SICK entailment: the same rows as :func:`twinbert.data.sts.read_sick` (each example
    carries both ``label`` and ``score``), as an NLI dataset."""
    return dataclasses.replace(read_sick(path, skip_bad_rows=skip_bad_rows), name="sick-nli", kind="nli")


def read_klue_nli(path: str | Path, *, skip_bad_rows: bool = False) -> Dataset:
    """KLUE-NLI JSON (``klue-nli-v1.1_dev.json``): a list of objects with ``premise``,
    ``hypothesis`` and ``gold_label``. Line numbers are where each object starts."""
    path = Path(path)
    records = json_array_records(path)

    def convert(record: object) -> PairExample:
        record = need_keys(record, ("premise", "hypothesis", "gold_label"))
        label = parse_label(record["gold_label"], "gold_label", NLI_LABELS)
        return PairExample(need_text(record["premise"], "premise"), need_text(record["hypothesis"], "hypothesis"), None, label)

    examples, skipped = collect(path, records, convert, skip_bad_rows)
    require_rows(path, examples, skipped)
    return Dataset("klue-nli", path.stem, path, examples, None, list(NLI_LABELS), skipped, "nli")


def read_rte(path: str | Path, *, skip_bad_rows: bool = False) -> Dataset:
    """RTE, GLUE layout (``{train,dev}.tsv``): header ``index sentence1 sentence2 label`` with
    labels ``entailment`` / ``not_entailment``, read as ``int`` 1 / 0. No quote processing."""
    path = Path(path)
    triples, skipped = _read_tsv_pairs(path, ("sentence1", "sentence2", "label"), RTE_LABELS, skip_bad_rows)
    examples = [PairExample(a, b, None, RTE_LABELS.index(label)) for a, b, label in triples]
    return Dataset("rte", path.stem, path, examples, None, list(RTE_LABELS), skipped, "pair-classification")


def read_mrpc(path: str | Path, *, skip_bad_rows: bool = False) -> Dataset:
    """MRPC (``msr_paraphrase_*.txt`` and GLUE's ``{train,dev}.tsv``): UTF-8 byte-order mark,
    header ``Quality #1 ID #2 ID #1 String #2 String``; ``Quality`` 1 = paraphrase. Bare ``"``
    inside sentences, so no quote processing."""
    path = Path(path)
    cols = ("#1 String", "#2 String", "Quality")
    triples, skipped = _read_tsv_pairs(path, cols, ["0", "1"], skip_bad_rows)
    examples = [PairExample(a, b, None, int(label)) for a, b, label in triples]
    return Dataset("mrpc", path.stem, path, examples, None, list(MRPC_LABELS), skipped, "pair-classification")
