"""PNG plots for results people would rather see than read. matplotlib is an optional extra
(`pip install 'twinbert[plot]'`); it is imported only here, when a plot is asked for."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import extras
from .errors import OutputError
from .formats.atomic import atomic_path


def require_matplotlib():
    """matplotlib.pyplot drawing to files (no window); MissingExtraError without matplotlib. Callers
    that plot after long work call it first, to fail before the work."""
    matplotlib = extras.require("matplotlib", "plotting")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def _save(fig, path) -> Path:
    plt = require_matplotlib()
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise OutputError(f"{path}: plots are written as PNG; use a .png file name")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def heatmap(matrix, row_labels, col_labels, path, *, title: str = "", value_format: str = "{:.2f}") -> Path:
    plt = require_matplotlib()
    matrix = np.asarray(matrix, dtype=float)
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(col_labels), 1.0 + 0.6 * len(row_labels)))
    image = ax.imshow(matrix, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(col_labels)), [_short(c, 25) for c in col_labels], rotation=40, ha="right")
    ax.set_yticks(range(len(row_labels)), [_short(r) for r in row_labels])
    mid = np.nanmean(matrix) if matrix.size else 0
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, value_format.format(v), ha="center", va="center", fontsize=8,
                color="white" if v < mid else "black")
    fig.colorbar(image, ax=ax)
    ax.set_title(title)
    return _save(fig, path)


def grouped_bars(groups: list[str], series: dict[str, list[float]], path, *, title: str = "",
                 ylabel: str = "") -> Path:
    """One group of bars per entry in `groups`, one bar per series."""
    plt = require_matplotlib()
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(groups) * max(1, len(series)) / 3), 4))
    width = 0.8 / max(1, len(series))
    x = np.arange(len(groups))
    for k, (label, values) in enumerate(series.items()):
        bars = ax.bar(x + (k - (len(series) - 1) / 2) * width, values, width, label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(x, [_short(g, 30) for g in groups])
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.margins(y=0.12)
    return _save(fig, path)


def scatter(x, y, path, *, title: str = "", xlabel: str = "", ylabel: str = "", note: str = "") -> Path:
    """One point per (x[i], y[i]), e.g. predicted similarity against the gold score; `note` is
    printed in the upper-left corner."""
    plt = require_matplotlib()
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.scatter(x, y, s=8, alpha=0.35 if len(x) > 500 else 0.6, edgecolors="none")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if note:
        ax.text(0.02, 0.98, note, transform=ax.transAxes, va="top", ha="left", fontsize=9,
                bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8})
    return _save(fig, path)


def learning_curve(rows: list[dict], path) -> Path:
    """Training loss and the dev main metric against the step (rows: the training JSONL log)."""
    plt = require_matplotlib()
    train = [(r["step"], r["loss"]) for r in rows if r.get("event") == "train"]
    evals = [(r["step"], r["metrics"][r["main_metric"]], r["main_metric"]) for r in rows if r.get("event") == "eval"]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot([s for s, _ in train], [v for _, v in train], color="tab:blue", label="training loss")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss", color="tab:blue")
    if evals:
        right = ax.twinx()
        right.plot([s for s, _, _ in evals], [v for _, v, _ in evals], "o-", color="tab:orange",
                   label=f"dev {evals[0][2]}")
        right.set_ylabel(f"dev {evals[0][2]}", color="tab:orange")
        best = max(evals, key=lambda e: e[1])
        right.annotate(f"best {best[1]:.4f}", (best[0], best[1]), textcoords="offset points", xytext=(0, 8),
                       ha="center", fontsize=8)
    ax.set_title("learning curve")
    fig.tight_layout()
    return _save(fig, path)
