"""encode_file_chunked: a file of long texts -> one .jsonl line per chunk (`twinbert encode --chunking`).

Each line: {"document": the text's 0-based row, "chunk": its number within the text, "start", "end": its
characters in the text, "text": the passage, "embedding": [...]}. Texts are read and encoded `chunk_rows`
at a time, so memory stays bounded; the output appears only when complete (temp file, then rename).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from ..checks import positive_int
from ..errors import InputError, OutputError
from ..formats.atomic import atomic_file, clean_stale
from ..formats.texts import count_texts, read_texts


def check_chunked_output(output_path) -> Path:
    """Chunked vectors go to .jsonl (each line carries its document and span); anything else is refused."""
    output_path = Path(output_path)
    if output_path.suffix.lower() != ".jsonl":
        raise OutputError(f"{output_path}: chunked encoding writes .jsonl (one line per chunk with its document "
                          "and character span); choose an output file ending in .jsonl", argument="output")
    return output_path


def encode_file_chunked(encoder, input_path, output_path, *, chunking: str, chunk_tokens: int | None = None,
                        overlap: int | None = None, column: str | None = None, chunk_rows: int = 1024,
                        **encode_kwargs) -> dict:
    """Encode every text of `input_path` as chunks (chunking "chunks" or "late", twinbert.chunking) into
    the .jsonl `output_path`; returns a summary with the rows read, the chunks written and the settings."""
    from ..encode_file import check_output

    output_path = check_chunked_output(check_output(output_path, input_path))
    positive_int(chunk_rows, "chunk_rows")
    options = encoder.options(**encode_kwargs)  # checked before any work
    total = count_texts(input_path, column)
    if total == 0:
        raise InputError(f"{input_path}: no texts to encode")
    clean_stale(output_path.parent, output_path.name)
    start, row, written, record, dim = time.perf_counter(), 0, 0, {}, 0
    texts = read_texts(input_path, column)
    with atomic_file(output_path, "w", encoding="utf-8") as fh:
        while True:
            group = [t for _, t in zip(range(chunk_rows), texts)]
            if not group:
                break
            result = encoder.encode(group, chunking=chunking, chunk_tokens=chunk_tokens, overlap=overlap,
                                    **encode_kwargs)
            record, dim = result.chunking, result.vectors.shape[1]
            number = 0
            for k, (document, (s, e), vector) in enumerate(zip(result.document.tolist(), result.spans.tolist(),
                                                               result.vectors)):
                number = 0 if k == 0 or result.document[k - 1] != document else number + 1
                fh.write(json.dumps({"document": row + document, "chunk": number, "start": s, "end": e,
                                     "text": group[document][s:e], "embedding": [round(float(x), 7) for x in vector]},
                                    ensure_ascii=False) + "\n")
            row += len(group)
            written += len(result)
    seconds = time.perf_counter() - start
    return {"input": str(input_path), "output": str(output_path), "rows": row, "chunks": written,
            "dimension": int(dim), "seconds": round(seconds, 3), "chunking": record,
            "settings": encoder.settings(options)}


__all__ = ["check_chunked_output", "encode_file_chunked"]
