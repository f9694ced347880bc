"""Documents in an index: long texts stored as chunks (twinbert.chunking), searched as documents.

The index's rows are the chunks (vector, passage text, a row id of its own); this part keeps, for each
row, its document and its character span, and each document's id and text. A search ranks rows and
returns documents: one hit per document, scored by its best chunk, with that chunk as the hit's
"passage" and "span". Exact for max: the best rows are fetched deep enough that the k best documents'
best chunks are among them (k - 1 documents can hold at most (k - 1) x their chunk count rows above
the k-th document's best chunk).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..formats import index_documents
from .rows import check_ids


@dataclass
class Documents:
    """ids and texts of the documents; rows: int64 [index rows, 3] = (document position, start, end)."""

    ids: list
    texts: list
    rows: np.ndarray
    chunking: dict  # {"method", "chunk_tokens", "overlap"}: how the documents were cut and embedded

    def record(self) -> dict[str, Any]:
        """meta.json's "documents": the chunking and the counts (the files: formats.index_documents)."""
        return {"chunking": dict(self.chunking), "count": len(self.ids), "rows": int(len(self.rows))}

    def depth(self, k: int) -> int:
        """How many rows to fetch so that the k best documents are exact (module docstring)."""
        most = int(np.bincount(self.rows[:, 0]).max()) if len(self.rows) else 1
        return min(len(self.rows), max(k, (k - 1) * most + 1))

    def hits(self, rows: list[list[tuple[int, float]]], k: int, passages: list) -> list[list[dict[str, Any]]]:
        """Row hits (best first) -> document hits: {"id", "text", "score", "rank", "passage", "span"}."""
        result = []
        for row in rows:
            seen: set[int] = set()
            found = []
            for i, score in row:
                document, start, end = (int(x) for x in self.rows[i])
                if document in seen:
                    continue
                seen.add(document)
                found.append({"id": self.ids[document], "text": self.texts[document], "score": float(score),
                              "rank": len(found) + 1, "passage": passages[i], "span": [start, end]})
                if len(found) == k:
                    break
            result.append(found)
        return result

    def write(self, folder: Path) -> None:
        """Save the documents into an index folder being written (twinbert.formats.index_documents)."""
        index_documents.write(folder, self.ids, self.texts, self.rows)

    @classmethod
    def read(cls, folder: Path, record: dict, rows: int) -> Documents:
        """The documents of the index folder ``folder`` (meta.json's ``record``; ``rows`` vectors)."""
        return cls(*index_documents.read(folder, record, rows))

    def extended(self, other: Documents) -> Documents:
        """These documents and then `other`'s (its rows' document positions shifted after ours)."""
        shifted = other.rows.copy()
        shifted[:, 0] += len(self.ids)
        return Documents(self.ids + other.ids, self.texts + other.texts, np.concatenate([self.rows, shifted]),
                         self.chunking)


def chunked_rows(texts: Any, ids: Any, encoder: Any, prompt: dict, chunking: dict, *, start: int,
                 existing: set, where: str) -> tuple[np.ndarray, list, list, Documents]:
    """(vectors, passages, row ids, Documents) of documents given to Index.build / add (``where``):
    each text cut and embedded by ``chunking`` ({"method", "chunk_tokens", "overlap"}) with the corpus
    ``prompt``; document ids checked against ``existing`` ones; row ids ``start ..``."""
    if isinstance(texts, str) or texts is None:
        raise InputError(f"{where}: chunking takes the documents as a list of strings (texts=)", argument="texts")
    texts = list(texts)
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise InputError(f"{where}: texts[{bad}] is {type(texts[bad]).__name__}, not a string", argument="texts")
    if encoder is None:
        raise InputError(f"{where}: chunking embeds the documents; pass encoder=twinbert.load(...)",
                         argument="encoder")
    ids = list(range(len(existing), len(existing) + len(texts))) if ids is None else list(ids)
    if len(ids) != len(texts):
        raise InputError(f"{where}: {len(ids)} ids for {len(texts)} documents; give one id per document",
                         argument="ids")
    check_ids(ids, existing, where)
    embedded = encoder.encode(texts, chunking=chunking["method"], chunk_tokens=chunking.get("chunk_tokens"),
                              overlap=chunking.get("overlap"), **prompt)
    rows = np.concatenate([embedded.document[:, None], embedded.spans], axis=1).astype(np.int64)
    documents = Documents(ids, texts, rows.reshape(-1, 3), dict(embedded.chunking))
    row_ids = list(range(start, start + len(rows)))
    return np.asarray(embedded.vectors, dtype=np.float32), embedded.passages(texts), row_ids, documents


__all__ = ["Documents", "chunked_rows"]
