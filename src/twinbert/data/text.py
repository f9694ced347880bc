"""Plain text: one example per non-blank line (WikiText-2 raw files, or any UTF-8 text)."""
from __future__ import annotations

from pathlib import Path

from ._io import read_text, require_rows, split_lines
from .examples import Dataset, TextExample


def read_text_lines(path: str | Path) -> Dataset:
    """Each non-blank line, stripped of surrounding whitespace, as an unlabelled
    :class:`TextExample`. WikiText's markers (``<unk>``, ``@-@``, `` = Heading = `` lines) are
    kept as is: they are part of the corpus."""
    path = Path(path)
    examples = [TextExample(s.strip()) for _, s in split_lines(read_text(path)) if s.strip()]
    require_rows(path, examples, [])
    return Dataset(path.stem, path.stem, path, examples, None, None, [], "text")
