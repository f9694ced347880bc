"""encode_file: stream a text file of any size through the encoder into .npy (memmap) or .jsonl.

Memory stays bounded by one chunk of rows; the output appears only when complete (temp + rename).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from .checks import positive_int
from .errors import InputError, OutputError
from .formats.atomic import atomic_file, atomic_path, check_file_target, clean_stale
from .formats.texts import count_texts, read_texts

OUTPUTS = (".npy", ".jsonl")


def check_output(output_path, input_path=None) -> Path:
    """Fail before any work when `output_path` cannot be written: unknown type, missing folder, an
    existing folder in the way, or the input file itself (by any name: ./X, a symlink, a hard link)."""
    output_path = Path(output_path)
    suffix = output_path.suffix.lower()
    if suffix not in OUTPUTS:
        raise OutputError(f"{output_path}: unknown output type {suffix!r}; expected .npy or .jsonl")
    check_file_target(output_path)
    if input_path is not None and output_path.exists() and Path(input_path).exists() \
            and os.path.samefile(output_path, input_path):
        raise OutputError(f"{output_path}: is the input file {input_path}; writing there would destroy the "
                          "texts, choose another output file")
    return output_path


# the temp names atomic_file / atomic_path give: `.NAME.<8 hex>.tmp` and `.NAME.<8 hex>.tmp<suffix>`
def encode_file(encoder, input_path, output_path, *, column: str | None = None, chunk_rows: int = 8192,
                show_progress: bool = True, **encode_kwargs) -> dict:
    """Encode every text of `input_path` into `output_path` (.npy or .jsonl); returns a summary whose
    "settings" are what shaped the vectors (encoder.settings of this call's options). `encode_kwargs`:
    encode()'s keyword arguments (pooling, layers, normalize, batch_tokens, precision, prompt_name ...)."""
    output_path = check_output(output_path, input_path)
    suffix = output_path.suffix.lower()
    positive_int(chunk_rows, "chunk_rows")
    options = encoder.options(**encode_kwargs)
    total = count_texts(input_path, column)  # also validates the whole file before any encoding
    if total == 0:
        raise InputError(f"{input_path}: no texts to encode")
    clean_stale(output_path.parent, output_path.name)  # temps a killed earlier run left: never results
    start = time.perf_counter()
    chunks = encoder.encode_stream(read_texts(input_path, column), chunk_rows=chunk_rows, total=total,
                                   show_progress=show_progress, options=options)
    if suffix == ".npy":
        first = next(chunks)
        with atomic_path(output_path) as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(total, first.shape[1]))
            out[:len(first)] = first
            row = len(first)
            for chunk in chunks:
                if row + len(chunk) > total:
                    _changed(input_path, row + len(chunk), total)
                out[row:row + len(chunk)] = chunk
                row += len(chunk)
            if row != total:  # rows left as zeros would be silently wrong vectors: nothing is written
                _changed(input_path, row, total)
            out.flush()
            del out
        dim = first.shape[1]
    else:
        row, dim = 0, 0
        texts = read_texts(input_path, column)
        with atomic_file(output_path, "w", encoding="utf-8") as fh:
            for chunk in chunks:
                dim = chunk.shape[1]
                for vector in chunk:
                    text = next(texts, None)
                    if text is None:
                        _changed(input_path, row, total)
                    fh.write(json.dumps({"index": row, "text": text,
                                         "embedding": [round(float(x), 7) for x in vector]},
                                        ensure_ascii=False) + "\n")
                    row += 1
            if row != total or next(texts, None) is not None:
                _changed(input_path, row, total)
    seconds = time.perf_counter() - start
    return {"input": str(input_path), "output": str(output_path), "rows": total, "dimension": int(dim),
            "seconds": round(seconds, 3), "rows_per_second": round(total / seconds, 1) if seconds else None,
            "settings": encoder.settings(options)}


def _changed(input_path, rows: int, total: int) -> None:
    raise InputError(f"{input_path}: changed while it was encoded ({total} texts when counted at the start, "
                     f"{rows} read since); nothing was written: run again once the file is complete")
