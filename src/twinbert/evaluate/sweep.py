"""Pooling x layer sweep: the STS Spearman(cosine) of one model for every pooling mode and every
hidden state, the table behind "which layer and which pooling give the best sentence vectors".

Rows: cls, mean, max, mean_sqrt_len, weighted_mean, last_token, and pooler (pooler_output, last layer
only, when the model has a trained pooler). Columns: hidden states 0 (embedding output) .. L (last
layer), and first-last (the token states of layer 1 and layer L averaged, then pooled).

Cost: one encode with output="all_layers" and every pooling mode at once gives every (pooling, layer)
cell (split into a few encodes when that array would exceed `memory_mb`); one encode with
output="token", layers="first-last" gives the first-last column for every pooling; one more for the
pooler. mean and mean_sqrt_len differ by a per-sentence factor only, so their cosine rows agree up to
float rounding. The vectors are the backbone's pooled states: the model's Dense modules, if any, are not
applied anywhere in the sweep (the pooler row is left out for such a model).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import InputError
from ..modules import pooling as pooling_mod
from ._common import check_encode_options, describe, pair_scores, rows
from .sts import check_sts, spearman

POOLINGS = ("cls", "mean", "max", "mean_sqrt_len", "weighted_mean", "last_token", "pooler")
FIRST_LAST = "first-last"


def _spearman_cosine(vectors: np.ndarray, index: dict, first, second, gold) -> float:
    return spearman(pair_scores(rows(vectors, index, first), rows(vectors, index, second), "cosine"), gold)


def _pool_tokens(token_states: list[np.ndarray], modes: tuple[str, ...], chunk: int = 256) -> np.ndarray:
    """Pool per-text token states ([tokens_i, hidden] arrays) with every mode at once ->
    [n, hidden * len(modes)], using the pooling module's own code on padded chunks."""
    out = []
    for start in range(0, len(token_states), chunk):
        part = token_states[start:start + chunk]
        longest = max(len(t) for t in part)
        states = torch.zeros(len(part), longest, part[0].shape[1])
        mask = torch.zeros(len(part), longest, dtype=torch.long)
        for i, t in enumerate(part):
            states[i, :len(t)] = torch.from_numpy(t)
            mask[i, :len(t)] = 1
        out.append(pooling_mod.pool(modes, states, mask).numpy())
    return np.concatenate(out)


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
    modes = pooling_mod.parse_modes(list(poolings))
    notes = []
    first, second, gold = check_sts(data)
    num_layers = encoder.transformer.num_layers
    hidden = encoder.transformer.hidden_size
    columns = [str(k) for k in range(num_layers + 1)] + [FIRST_LAST]
    token_modes = tuple(m for m in dict.fromkeys(modes) if m != "pooler")
    use_pooler = "pooler" in modes
    if use_pooler and not encoder.transformer.has_pooler:
        notes.append("no pooler row: the model has no trained pooler (pooler_output)")
        use_pooler = False
    if use_pooler and len(getattr(encoder, "dense", ())):
        notes.append("no pooler row: the model has Dense modules, which the sweep does not apply")
        use_pooler = False
    row_names = list(token_modes) + (["pooler"] if use_pooler else [])
    if not row_names:
        raise InputError("no pooling left to sweep: give some of " + ", ".join(POOLINGS))
    table: dict[str, dict[str, float | None]] = {m: {c: None for c in columns} for m in row_names}

    unique = list(dict.fromkeys(first + second))
    index = {t: i for i, t in enumerate(unique)}
    # every layer of every pooling, in as few encodes as memory_mb allows
    per_mode_mb = len(unique) * (num_layers + 1) * hidden * 4 / 2**20
    group = max(1, int(memory_mb // max(per_mode_mb, 1e-9)))
    for start in range(0, len(token_modes), group):
        part = token_modes[start:start + group]
        if not part:
            break
        layers = encoder.encode(unique, pooling=list(part), output="all_layers", normalize=False, **options)
        for j, mode in enumerate(part):
            block = np.asarray(layers[:, :, j * hidden:(j + 1) * hidden])
            for k in range(num_layers + 1):
                table[mode][str(k)] = spearman_or_none(
                    _spearman_cosine(np.ascontiguousarray(block[:, k]), index, first, second, gold))
        del layers
    if token_modes:
        tokens = encoder.encode(unique, output="token", layers=FIRST_LAST, normalize=False, **options)
        pooled = _pool_tokens(tokens, token_modes)
        del tokens
        for j, mode in enumerate(token_modes):
            table[mode][FIRST_LAST] = spearman_or_none(
                _spearman_cosine(pooled[:, j * hidden:(j + 1) * hidden], index, first, second, gold))
    if use_pooler:
        vectors = encoder.encode(unique, pooling="pooler", normalize=False, **options)
        table["pooler"][str(num_layers)] = spearman_or_none(_spearman_cosine(vectors, index, first, second, gold))

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


def spearman_or_none(value: float):
    return None if math.isnan(value) else float(value)


def heatmap_plot(result: dict, path, *, title: str = ""):
    """The sweep table as a heat-map PNG (values x 100; cells that do not exist read nan)."""
    from ..plots import heatmap

    matrix = np.array([[np.nan if result["table"][m][c] is None else 100 * result["table"][m][c]
                        for c in result["columns"]] for m in result["poolings"]], dtype=float)
    return heatmap(matrix, result["poolings"], result["columns"], path, title=title, value_format="{:.1f}")


__all__ = ["pooling_layer_sweep", "heatmap_plot", "POOLINGS", "FIRST_LAST"]
