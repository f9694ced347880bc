"""Feature extraction as in the BERT paper: for a few texts (or text pairs), the tokens, ids, attention
mask, token type ids, the [CLS] vector, pooler_output and the hidden states of every layer, all padded
to one width so the padding is visible."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import batching
from ..checks import positive_int
from ..encode_options import layer_indices
from ..errors import InputError, OutputError
from ..formats.atomic import atomic_file, check_file_target
from ._common import text_list


@dataclass
class Features:
    """Rows follow the input texts; every row is padded to the same width."""
    model: str
    texts: list[str]
    pairs: list[str] | None
    tokens: list[list[str]]           # per row, padding included
    input_ids: np.ndarray             # [n, width] int64
    attention_mask: np.ndarray        # [n, width]; 0 = padding
    token_type_ids: np.ndarray        # [n, width]; 1 = second text of a pair
    layers: list[int]                 # which hidden states were kept (0 = embeddings)
    hidden_states: np.ndarray         # [n, len(layers), width, hidden] float32
    cls: np.ndarray                   # [n, hidden]: last layer at [CLS]
    pooler_output: np.ndarray | None  # [n, hidden]; None when the model has no trained pooler

    def save(self, path: str | os.PathLike) -> Path:
        """Write every array to one .npz file, atomically (strings as unicode arrays)."""
        arrays = {"texts": np.array(self.texts), "tokens": np.array(self.tokens), "input_ids": self.input_ids,
                  "attention_mask": self.attention_mask, "token_type_ids": self.token_type_ids,
                  "layers": np.array(self.layers, dtype=np.int64), "hidden_states": self.hidden_states,
                  "cls": self.cls}
        if self.pairs is not None:
            arrays["pairs"] = np.array(self.pairs)
        if self.pooler_output is not None:
            arrays["pooler_output"] = self.pooler_output
        with atomic_file(check_save_path(path), "wb") as fh:
            np.savez(fh, **arrays)
        return Path(path)

    def to_dict(self, hidden_states: bool = False) -> dict:
        """JSON-ready dict; the hidden states as nested lists only when asked (their shape always)."""
        out = {"model": self.model, "texts": self.texts, "pairs": self.pairs, "tokens": self.tokens,
               "input_ids": self.input_ids.tolist(), "attention_mask": self.attention_mask.tolist(),
               "token_type_ids": self.token_type_ids.tolist(), "cls": self.cls.tolist(),
               "pooler_output": None if self.pooler_output is None else self.pooler_output.tolist(),
               "layers": self.layers, "hidden_states_shape": list(self.hidden_states.shape)}
        if hidden_states:
            out["hidden_states"] = self.hidden_states.tolist()
        return out


def check_save_path(path: str | os.PathLike) -> Path:
    """Where Features.save may write: a .npz file (what it writes, whatever the name says) that can be
    written; anything else fails before any work."""
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise OutputError(f"{path}: features are saved as a .npz archive; give a file name ending in .npz")
    return check_file_target(path)


def parse_layer_list(layers, num_layers: int) -> list[int]:
    """"all", "last", an index, indices joined by commas, or a list of indices -> indices into the
    hidden states (0 = embedding output, num_layers = last layer; negative counts from the end)."""
    if layers is None or layers == "all":
        return list(range(num_layers + 1))
    if layers == "last":
        return [num_layers]
    return layer_indices(layers, num_layers, "'all', 'last'")


def features(model, texts, pairs=None, *, layers="all", pad_to: int | None = None,
             batch_tokens: int | None = None) -> Features:
    """Features of one text or a list of texts (with `pairs`, text pairs: [CLS] a [SEP] b [SEP]).

    model: a SentenceEncoder (twinbert.load) or a model name/folder.
    layers: "all" (default), "last", an index, "0,3,-1" or a list of indices into the hidden states.
    pad_to: pad every row to this many tokens (default: the longest row).
    """
    from ..encoder import SentenceEncoder, load

    encoder = model if isinstance(model, SentenceEncoder) else load(model)
    transformer = encoder.transformer
    texts = text_list(texts)
    if pairs is not None:
        pairs = text_list(pairs, "pairs")
        if len(pairs) != len(texts):
            raise InputError(f"got {len(pairs)} pair texts for {len(texts)} texts: give one pair text per text")
    picked = parse_layer_list(layers, transformer.num_layers)
    batch_tokens = positive_int(batch_tokens, "batch_tokens", allow_none=True)
    tokens = transformer.tokenize(texts, pairs).warn_truncated(transformer.max_seq_length)
    lengths = [len(ids) for ids in tokens.input_ids]
    width = max(lengths)
    if pad_to is not None:
        if not isinstance(pad_to, (int, np.integer)) or isinstance(pad_to, bool) or pad_to < 1:
            raise InputError(f"pad_to must be a positive number of tokens, got {pad_to!r}")
        longest = int(np.argmax(lengths))
        if pad_to < width:
            raise InputError(f"pad_to={pad_to} is shorter than texts[{longest}], which has {width} tokens")
        if pad_to > transformer.max_seq_length:
            raise InputError(f"pad_to={pad_to} exceeds the model's max_seq_length of "
                             f"{transformer.max_seq_length} tokens")
        width = int(pad_to)

    n, hidden = len(texts), transformer.hidden_size
    input_ids = np.zeros((n, width), dtype=np.int64)
    mask = np.zeros((n, width), dtype=np.int64)
    types = np.zeros((n, width), dtype=np.int64)
    states = np.zeros((n, len(picked), width, hidden), dtype=np.float32)
    cls = np.zeros((n, hidden), dtype=np.float32)
    pooler = np.zeros((n, hidden), dtype=np.float32) if transformer.has_pooler else None

    def store(index: np.ndarray, batch: tuple) -> None:  # rows of one batch, all `width` tokens wide
        ids_t, mask_t, types_t = batch
        out = transformer({"input_ids": ids_t, "attention_mask": mask_t, "token_type_ids": types_t},
                          all_layers=picked != [transformer.num_layers])
        every = out["all_layer_embeddings"]
        chosen = [out["token_embeddings"]] if every is None else [every[k] for k in picked]
        states[index] = torch.stack(chosen, dim=1).float().cpu().numpy()
        cls[index] = out["token_embeddings"][:, 0].float().cpu().numpy()
        if pooler is not None:
            pooler[index] = out["pooler_output"].float().cpu().numpy()
        input_ids[index], mask[index] = ids_t.cpu().numpy(), mask_t.cpu().numpy()
        types[index] = types_t.cpu().numpy()

    batching.run_batches(tokens.input_ids, tokens.token_type_ids, transformer.pad_id, store,
                         batch_tokens=batch_tokens or batching.DEFAULT_BATCH_TOKENS, device=encoder.device,
                         context=torch.inference_mode, width=width)
    token_strings = [transformer.tokenizer.convert_ids_to_tokens(row) for row in input_ids.tolist()]
    return Features(encoder.name, texts, pairs, token_strings, input_ids, mask, types, picked, states, cls, pooler)
