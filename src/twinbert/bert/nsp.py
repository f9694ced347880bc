"""Next-sentence prediction: how likely the second text follows the first, from BERT's NSP head.

The head scores [CLS] a [SEP] b [SEP]; label 0 is IsNext, label 1 NotNext, and the probability is the
softmax over the two logits.
"""
from __future__ import annotations

import os

from ..errors import InputError
from ..modules.transformer import Transformer
from ._common import run_head, text_list
from .heads import load_next_sentence


def next_sentence(model: Transformer | str | os.PathLike, first, second, *, batch_tokens: int | None = None):
    """{"is_next": p, "not_next": 1 - p} for one pair of texts, or a list of those for two lists.

    model: a next-sentence Transformer (load_next_sentence) or a model name/folder.
    """
    transformer = model if isinstance(model, Transformer) else load_next_sentence(model)
    single = isinstance(first, str) and isinstance(second, str)
    first, second = text_list(first, "first"), text_list(second, "second")
    if len(first) != len(second):
        raise InputError(f"first has {len(first)} texts but second has {len(second)}: give one second "
                         "text per first text")
    tokens = transformer.tokenize(first, second)
    results: list = [None] * len(first)

    def keep(index, logits):
        is_next = logits.softmax(dim=-1)[:, 0].tolist()
        for row, i in enumerate(index):
            results[i] = {"is_next": is_next[row], "not_next": 1.0 - is_next[row]}

    run_head(transformer, tokens, batch_tokens, keep)
    return results[0] if single else results
