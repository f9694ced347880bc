"""Retrieval collection reader: Cranfield 1400 in the classic SMART format.

Files in the folder: ``cran.all.1400`` (documents), ``cran.qry`` (queries), ``cranqrel``
(judgements ``query doc code``).

* Document ids are the ``.I`` numbers as strings (``"1"`` .. ``"1400"``); a document's text is
  its ``.W`` abstract (which restates the title), lines joined with single spaces. Documents
  471 and 995 have no text and are kept as ``""``. Three records of the upstream file are
  damaged (a stray ``.A``/``.B`` inside document 240's abstract, a second ``.W`` in 576 and
  578): marker lines after the first ``.W`` are dropped and the text around them kept.
* Query ids are ``"1"`` .. ``"225"``: ``cran.qry`` numbers its queries non-contiguously
  (``.I 001``, ``002``, ``004``, ``008`` ...), while ``cranqrel`` numbers them 1..225 in file
  order, so the n-th query of ``cran.qry`` gets id ``str(n)``.
* Every judgement is relevant: codes 1-4 are Cleverdon's relevance grades (1 = complete
  answer ... 4 = minimum interest) and each query has exactly one ``-1`` judgement, the
  query's source document (its text matches the query; the TREC conversion of these qrels
  gives it the highest grade). Raw codes are in :attr:`RetrievalData.grades`.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError
from ._io import RowError, collect, read_text, require_rows, split_lines
from .examples import Dataset, RetrievalData

CRANFIELD_FILES = ("cran.all.1400", "cran.qry", "cranqrel")
CRANFIELD_CODES = (-1, 1, 2, 3, 4)

_MARKER = re.compile(r"\.([ITABW])(?:\s+(\S+))?\s*")


def _read_smart(path: Path, fields: str) -> list[tuple[int, str, dict[str, list[str]]]]:
    """``(line, id, {field letter: lines})`` for each ``.I`` record, in file order."""
    records: list[tuple[int, str, dict[str, list[str]]]] = []
    current: dict[str, list[str]] | None = None
    section = None
    seen: set[str] = set()
    for line, text in split_lines(read_text(path)):
        match = _MARKER.fullmatch(text)
        if match and match.group(1) == "I":
            rid = match.group(2)
            if rid is None or not rid.isdigit():
                raise InputError(f"{path}, line {line}, field '.I': record id {rid!r} is not a number; expected '.I <number>'")
            rid = str(int(rid))
            if rid in seen:
                raise InputError(f"{path}, line {line}, field '.I': record id {rid} appears twice; expected unique ids")
            seen.add(rid)
            current = {}
            records.append((line, rid, current))
            section = None
        elif match and match.group(2) is None and match.group(1) in fields:
            if current is None:
                raise InputError(f"{path}, line {line}: field marker before the first '.I'; expected a file starting with '.I <id>'")
            letter = match.group(1)
            if section == "W" or letter in current:
                continue  # damaged record: stray marker inside the abstract; keep the text around it
            section = letter
            current[letter] = []
        else:
            if current is None:
                raise InputError(f"{path}, line {line}: text before the first '.I'; expected a file starting with '.I <id>'")
            if section is None:
                raise InputError(f"{path}, line {line}: text outside a field; expected a field marker ({', '.join('.' + f for f in fields)}) after '.I'")
            current[section].append(text)
    if not records:
        raise InputError(f"{path}: no rows (no '.I' record); expected SMART records '.I <id>' / '.W' / text")
    return records


def _joined(lines: list[str]) -> str:
    return " ".join(" ".join(lines).split())


def read_cranfield(folder: str | Path, *, skip_bad_rows: bool = False) -> Dataset:
    """The Cranfield collection in ``folder``, as a :class:`Dataset` whose single example is a
    :class:`RetrievalData` (also reachable as ``dataset.retrieval``). ``skip_bad_rows``
    applies to judgement lines; a damaged document or query file always raises."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder; expected the Cranfield folder holding {', '.join(CRANFIELD_FILES)}")
    docs_path, qry_path, qrel_path = (folder / name for name in CRANFIELD_FILES)

    corpus = {rid: _joined(f.get("W", [])) for _, rid, f in _read_smart(docs_path, "TABW")}
    queries: dict[str, str] = {}
    for n, (line, _, f) in enumerate(_read_smart(qry_path, "W"), 1):
        text = _joined(f.get("W", []))
        if not text:
            raise InputError(f"{qry_path}, line {line}, field '.W': query {n} has no text; expected '.W' followed by the query")
        queries[str(n)] = text

    grades: dict[str, dict[str, int]] = {}

    def convert(text: str) -> tuple[str, str, int]:
        parts = text.split()
        if len(parts) != 3:
            raise RowError(None, f"has {len(parts)} fields", "3 space-separated fields: query number, document id, code")
        qid, did, code = parts
        if qid not in queries:
            raise RowError("query", f"{qid!r} is not a query number", f"1..{len(queries)} (the n-th query of {qry_path.name})")
        if did not in corpus:
            raise RowError("document", f"{did!r} is not a document id", f"a '.I' id of {docs_path.name}")
        if code not in {str(c) for c in CRANFIELD_CODES}:
            raise RowError("code", f"{code!r} is not a relevance code", ", ".join(map(str, CRANFIELD_CODES)))
        if did in grades.get(qid, {}):
            raise RowError("document", f"pair query {qid} / document {did} is judged twice", "one judgement per pair")
        grades.setdefault(qid, {})[did] = int(code)
        return qid, did, int(code)

    judged, skipped = collect(qrel_path, split_lines(read_text(qrel_path)), convert, skip_bad_rows)
    require_rows(qrel_path, judged, skipped)
    relevant = {qid: set(docs) for qid, docs in grades.items()}
    data = RetrievalData(queries=queries, corpus=corpus, relevant=relevant, grades=grades)
    return Dataset(
        "cranfield", "test", folder, [data], None, None, skipped, "retrieval", (docs_path, qry_path, qrel_path)
    )
