"""Memory-mapped arrays (an index's vectors.npy) read in blocks without keeping their pages.

A page of a memory map that this process has read counts in its RSS until the map is closed or the kernel
needs the memory, so one pass over a 15 GB file reads as 15 GB of RSS. Reading block by block and dropping
the pages after each (madvise DONTNEED: they stay in the page cache, and come back on the next read
without a disk read) keeps the RSS at one block.
"""
from __future__ import annotations

import mmap
import os
from collections.abc import Iterator

import numpy as np

# Rows read at once by mapped_blocks (96 MiB of 384-dim float32)
MAPPED_BLOCK_ROWS = 1 << 16


def mapped_blocks(vectors: np.ndarray, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, block)`` over the rows of ``vectors``; a memory map (np.memmap) is copied block by block
    and its pages are dropped after each; an array in memory is sliced."""
    rows = rows or MAPPED_BLOCK_ROWS
    mapped = getattr(vectors, "_mmap", None) is not None
    for start in range(0, len(vectors), rows):
        block = np.array(vectors[start:start + rows]) if mapped else vectors[start:start + rows]
        drop_pages(vectors)
        yield start, block


def drop_pages(vectors: np.ndarray) -> None:
    """Let go of the pages of a memory map that this process has touched (they stay in the page cache and
    come back on the next read); nothing for an array in memory."""
    mapped = getattr(vectors, "_mmap", None)
    if mapped is not None and hasattr(mapped, "madvise"):
        mapped.madvise(mmap.MADV_DONTNEED)


class RowReader:
    """Rows of a memory-mapped .npy file read with pread, not through the map: ``reader[rows]`` is
    ``mapped[rows]`` without mapping anything. Where the kernel maps file pages in large folios (2 MB at a
    time: 4,096 scattered rows of a 3 GB file put 2.8 GB in the RSS, measured on Linux 6.18), a pass that
    reads many scattered rows (the tuning's re-scoring) keeps its RSS at the rows it holds. Slower than the
    map (a system call a row), so searches keep the map."""

    def __init__(self, mapped: np.memmap):
        self.path, self.offset = mapped.filename, int(mapped.offset)
        self.shape, self.dtype = mapped.shape, mapped.dtype
        self.row_bytes = int(np.prod(mapped.shape[1:], dtype=np.int64)) * mapped.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        out = np.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        flat = out.reshape(len(rows), -1).view(np.uint8)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for i, row in enumerate(rows.tolist()):
                if not 0 <= row < self.shape[0]:
                    raise IndexError(f"row {row} is outside the {self.shape[0]} rows of {self.path}")
                if os.preadv(fd, [flat[i]], self.offset + row * self.row_bytes) != self.row_bytes:
                    raise OSError(f"{self.path}: short read at row {row}")
        finally:
            os.close(fd)
        return out
