"""The documents of a document index (twinbert.search.documents) on disk, two files in the index folder:

    documents.jsonl   one {"id": ..., "text": ...} per document, in order
    chunks.npy        int64 [index rows, 3]: each row's (document position, start, end): the chunk's
                      characters in its document's text

meta.json's "documents" records the chunking ({"method", "chunk_tokens", "overlap"}), the number of
documents and of rows; ``read`` checks the files against it and against each other.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from . import jsonl

DOCUMENTS_FILE, CHUNKS_FILE = "documents.jsonl", "chunks.npy"
DOCUMENT_FILES = (DOCUMENTS_FILE, CHUNKS_FILE)


def write(folder: Path, ids: list, texts: list, rows: np.ndarray) -> None:
    """Write (and sync) both files into ``folder``."""
    with open(folder / DOCUMENTS_FILE, "wb") as f:
        f.writelines((json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n").encode("utf-8")
                     for i, t in zip(ids, texts))
        f.flush()
        os.fsync(f.fileno())
    with open(folder / CHUNKS_FILE, "wb") as f:
        np.save(f, np.ascontiguousarray(rows, dtype=np.int64), allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())


def read(folder: Path, record: Any, rows: int) -> tuple[list, list, np.ndarray, dict]:
    """(ids, texts, chunk rows, chunking) of the index folder ``folder`` whose meta.json says ``record``
    and holds ``rows`` vectors; every disagreement is an InputError naming the file."""
    meta = folder / "meta.json"
    if not isinstance(record, dict) or not isinstance(record.get("chunking"), dict) \
            or record["chunking"].get("method") not in ("chunks", "late") or record.get("rows") != rows:
        raise InputError(f"{meta}: field 'documents' is {str(record)[:80]!r}; expected an object with \"chunking\" "
                         f"({{\"method\": \"chunks\" or \"late\", ...}}), \"count\" and \"rows\": {rows}")
    ids, texts = _read_documents(folder / DOCUMENTS_FILE, record.get("count"))
    path = folder / CHUNKS_FILE
    try:
        chunks = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path}: missing, unreadable or truncated .npy file ({exc})") from exc
    if chunks.dtype != np.int64 or chunks.shape != (rows, 3):
        raise InputError(f"{path}: holds {chunks.dtype} {chunks.shape}; expected int64 ({rows}, 3)")
    lengths = np.array([len(t) for t in texts], dtype=np.int64)
    document = chunks[:, 0]
    bad = np.flatnonzero((document < 0) | (document >= len(ids)))
    if not len(bad):
        spans = chunks[:, 1:]
        bad = np.flatnonzero((spans[:, 0] < 0) | (spans[:, 0] > spans[:, 1]) | (spans[:, 1] > lengths[document]))
    if len(bad):
        raise InputError(f"{path} row {int(bad[0])}: {chunks[bad[0]].tolist()} is no (document, start, end) "
                         f"of the {len(ids)} documents of {DOCUMENTS_FILE}")
    return ids, texts, chunks, dict(record["chunking"])


def _read_documents(path: Path, count: Any) -> tuple[list, list]:
    ids: list = []
    texts: list = []
    for line_no, row in jsonl.rows(path):
        item = row.get("id") if isinstance(row, dict) else None
        if isinstance(item, bool) or not isinstance(item, (str, int)) or not isinstance(row.get("text"), str):
            raise InputError(f"{path}, line {line_no}: expected {{\"id\": a string or integer, \"text\": a string}}")
        ids.append(item)
        texts.append(row["text"])
    if len(set(ids)) != len(ids) or len(ids) != count:
        raise InputError(f"{path}: holds {len(ids)} documents ({len(set(ids))} distinct ids) but meta.json says "
                         f"count={count}")
    return ids, texts


__all__ = ["CHUNKS_FILE", "DOCUMENTS_FILE", "DOCUMENT_FILES", "read", "write"]
