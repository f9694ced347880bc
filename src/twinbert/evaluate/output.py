"""Where `twinbert eval` / `twinbert sweep` write: the result document (JSON, atomic) and the plot, both
checked before the model loads so a bad path fails in a second, not after the encoding."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import OutputError
from ..formats.atomic import atomic_file


def output_path(output) -> Path | None:
    """The result document's file (None: not written); its folder must exist."""
    if output is None:
        return None
    path = Path(output)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; output expects a file name such as results.json", argument="output")
    if not path.parent.is_dir():
        raise OutputError(f"{path}: cannot write, folder {path.parent} does not exist")
    return path


def plot_path(plot, stem: str) -> Path | None:
    """plot=FILE.png, or a folder (created if missing) that gets <stem>.png; matplotlib checked now."""
    if plot is None:
        return None
    from ..plots import require_matplotlib

    require_matplotlib()  # missing: say so now, not after encoding
    path = Path(plot)
    if path.suffix.lower() != ".png":
        if path.exists() and not path.is_dir():
            raise OutputError(f"{path}: plot expects a .png file name or a folder", argument="plot")
        path.mkdir(parents=True, exist_ok=True)
        path = path / f"{stem}.png"
    if not path.parent.is_dir():
        raise OutputError(f"{path}: cannot write the plot, folder {path.parent} does not exist")
    return path


def write_json(document: dict, path) -> Path:
    with atomic_file(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    return Path(path)
