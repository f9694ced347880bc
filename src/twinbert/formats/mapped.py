"""Memory-mapped arrays (an index's vectors.npy) read in blocks without keeping their pages.

A page of a memory map that this process has read counts in its RSS until the map is closed or the kernel
needs the memory, so one pass over a 15 GB file reads as 15 GB of RSS. Reading block by block and dropping
the pages after each (madvise DONTNEED: they stay in the page cache, and come back on the next read
without a disk read) keeps the RSS at one block.
"""
from __future__ import annotations

import mmap
from collections.abc import Iterator

import numpy as np

# Rows read at once by mapped_blocks (384 MiB of 384-dim float32)
MAPPED_BLOCK_ROWS = 1 << 18


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
