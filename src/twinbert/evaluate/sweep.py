"""Pooling x layer sweep: the STS Spearman(cosine) of one model for every pooling mode and every
hidden state, the table behind "which layer and which pooling give the best sentence vectors".

Rows: cls, mean, max, mean_sqrt_len, weighted_mean, last_token, and pooler (pooler_output, last layer
only, when the model has a trained pooler). Columns: hidden states 0 (embedding output) .. L (last
layer), and first-last (the token states of layer 1 and layer L averaged, then pooled).

Cost: one encode with output="all_layers" and every pooling mode at once gives every (pooling, layer)
cell (split into a few encodes when that array would exceed `memory_mb`); one encode with
layers="first-last" and every pooling mode gives the first-last column; one more for the pooler. mean and mean_sqrt_len differ by a per-sentence factor only, so their cosine rows agree up to
float rounding. The vectors are the backbone's pooled states: the model's Dense modules, if any, are not
applied anywhere in the sweep (the pooler row is left out for such a model).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from ..modules.pooling import parse_modes
from ..progress import Progress
from ._common import check_encode_options, describe, pair_scores, rows
from .sts import check_sts, spearman

POOLINGS = ("cls", "mean", "max", "mean_sqrt_len", "weighted_mean", "last_token", "pooler")
FIRST_LAST = "first-last"


def _spearman_cosine(vectors: np.ndarray, index: dict, first, second, gold) -> float:
    return spearman(pair_scores(rows(vectors, index, first), rows(vectors, index, second), "cosine"), gold)


def pooling_layer_sweep(encoder, data, *, poolings=POOLINGS, plot=None, memory_mb: int = 512,
                        **encode_options) -> dict:
    """Spearman(cosine) on the STS `data` for each pooling x hidden state (see the module docstring).

    Returns {"metric": "spearman_cosine", "poolings": [...], "columns": ["0", ..., "L", "first-last"],
    "table": {pooling: {column: value or None}}, "best": {"pooling", "layer", "spearman_cosine"},
    "notes": [...]}. `plot`: a PNG path for the heat-map. `encode_options`: batch_tokens, precision
    (pooling, layers and normalize are set by the sweep).
    """
    options = check_encode_options(encode_options)
    for key in ("pooling", "layers", "normalize"):
        if key in options:
            raise InputError(f"the sweep sets {key} itself; pass only batch_tokens or precision")
    modes = parse_modes(list(poolings))
    notes = []
    first, second, gold = check_sts(data)
    num_layers = encoder.transformer.num_layers
    hidden = encoder.transformer.hidden_size
    columns = [str(k) for k in range(num_layers + 1)] + [FIRST_LAST]
    token_modes = tuple(m for m in dict.fromkeys(modes) if m != "pooler")
    use_pooler = "pooler" in modes and _pooler_row(encoder, notes)
    row_names = list(token_modes) + (["pooler"] if use_pooler else [])
    if not row_names:
        raise InputError("no pooling left to sweep: give some of " + ", ".join(POOLINGS))
    table: dict[str, dict[str, float | None]] = {m: {c: None for c in columns} for m in row_names}

    unique = list(dict.fromkeys(first + second))
    index = {t: i for i, t in enumerate(unique)}

    def score(vectors: np.ndarray) -> float | None:
        return spearman_or_none(_spearman_cosine(np.ascontiguousarray(vectors), index, first, second, gold))

    # every layer of every pooling, in as few encodes as memory_mb allows
    per_mode_mb = len(unique) * (num_layers + 1) * hidden * 4 / 2**20
    group = max(1, int(memory_mb // max(per_mode_mb, 1e-9)))
    for start in range(0, len(token_modes), group):
        part = token_modes[start:start + group]
        layers = encoder.encode(unique, pooling=list(part), output="all_layers", normalize=False, **options)
        for j, mode in enumerate(part):
            for k in range(num_layers + 1):
                table[mode][str(k)] = score(layers[:, k, j * hidden:(j + 1) * hidden])
        del layers
    if token_modes:
        pooled = _first_last(encoder, unique, token_modes, options)
        for j, mode in enumerate(token_modes):
            table[mode][FIRST_LAST] = score(pooled[:, j * hidden:(j + 1) * hidden])
    if use_pooler:
        table["pooler"][str(num_layers)] = score(encoder.encode(unique, pooling="pooler", normalize=False, **options))

    cells = [(v, m, c) for m, row in table.items() for c, v in row.items() if v is not None]
    best = max(cells, key=lambda cell: cell[0]) if cells else (None, None, None)
    result = {
        "metric": "spearman_cosine", "poolings": row_names, "columns": columns, "table": table,
        "best": {"pooling": best[1], "layer": best[2], "spearman_cosine": best[0]},
        "layers": {"0": "embedding output", str(num_layers): "last layer",
                   FIRST_LAST: f"mean of the token states of layers 1 and {num_layers}, then pooled"},
        "notes": notes,
    }
    if plot is not None:
        heatmap_plot(result, plot, title=f"Spearman(cosine) x 100, {describe(data)}\n{getattr(encoder, 'name', '')}")
    return result


def _pooler_row(encoder, notes: list[str]) -> bool:
    """Whether the model gives a pooler row; why not, in `notes`."""
    if not encoder.transformer.has_pooler:
        notes.append("no pooler row: the model has no trained pooler (pooler_output)")
        return False
    if len(getattr(encoder, "dense", ())):
        notes.append("no pooler row: the model has Dense modules, which the sweep does not apply")
        return False
    return True


def _first_last(encoder, texts: list[str], modes: tuple[str, ...], options: dict) -> np.ndarray:
    """The first-last column: layers 1 and L averaged, then pooled with every mode at once; the pooled
    backbone states (the model's Dense modules left out, as everywhere in the sweep)."""
    progress = Progress(len(texts), "encode", enabled=bool(options.get("show_progress")))
    first_last = encoder.options(pooling=list(modes), layers=FIRST_LAST, normalize=False, apply_dense=False,
                                 **{k: v for k, v in options.items() if k != "show_progress"})
    pooled = encoder.run(texts, first_last, progress)
    progress.close()
    return pooled


def spearman_or_none(value: float):
    return None if math.isnan(value) else float(value)


def heatmap_plot(result: dict, path, *, title: str = ""):
    """The sweep table as a heat-map PNG (values x 100; cells that do not exist read nan)."""
    from ..plots import heatmap

    matrix = np.array([[np.nan if result["table"][m][c] is None else 100 * result["table"][m][c]
                        for c in result["columns"]] for m in result["poolings"]], dtype=float)
    return heatmap(matrix, result["poolings"], result["columns"], path, title=title, value_format="{:.1f}")


__all__ = ["pooling_layer_sweep", "heatmap_plot", "POOLINGS", "FIRST_LAST"]
