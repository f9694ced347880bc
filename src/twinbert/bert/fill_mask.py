"""Fill-mask: the most likely tokens for every mask token in a text, from BERT's masked-LM head.

Every mask of a text is predicted from the same forward pass (the other masks stay masked), as in
transformers' FillMaskPipeline.
"""
from __future__ import annotations

import os

from ..errors import InputError, ModelLoadError
from ..modules.transformer import Transformer
from ._common import run_head, text_list
from .heads import load_masked_lm


def _sequence(tokenizer, ids: list[int], pos: int, token_id: int) -> str:
    """The text with the mask at `pos` filled by `token_id`; other special tokens dropped, other masks kept."""
    special = set(tokenizer.all_special_ids) - {tokenizer.mask_token_id}
    return tokenizer.decode([token_id if k == pos else t for k, t in enumerate(ids) if k == pos or t not in special])


def fill_mask(model: Transformer | str | os.PathLike, texts, *, top_k: int = 5, batch_tokens: int | None = None):
    """Top-k predictions for every mask token of one text (-> list per mask) or of a list of texts
    (-> one such list per text). A prediction is {"token", "token_id", "score", "sequence"}: the token
    as text, its id, its probability, and the text with this mask filled.

    model: a masked-LM Transformer (load_masked_lm) or a model name/folder.
    """
    transformer = model if isinstance(model, Transformer) else load_masked_lm(model)
    tokenizer = transformer.tokenizer
    mask_id, mask = tokenizer.mask_token_id, tokenizer.mask_token
    if mask_id is None:
        raise ModelLoadError("the model's tokenizer has no mask token, so it cannot fill masks")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise InputError(f"top_k must be a positive integer, got {top_k!r}")
    single = isinstance(texts, str)
    texts = text_list(texts)
    tokens = transformer.tokenize(texts)
    positions = []
    for i, ids in enumerate(tokens.input_ids):
        where = [k for k, t in enumerate(ids) if t == mask_id]
        if not where:
            if mask in texts[i] and len(ids) >= transformer.max_seq_length:
                raise InputError(f"texts[{i}]: its {mask} lies beyond the model's max_seq_length of "
                                 f"{transformer.max_seq_length} tokens; shorten the text")
            raise InputError(f"texts[{i}] {texts[i][:80]!r} has no mask token: write {mask} where a "
                             "token should be predicted")
        positions.append(where)

    results: list = [None] * len(texts)

    def keep(index, logits):
        for row, i in enumerate(index):
            probs = logits[row, positions[i]].softmax(dim=-1)
            values, predictions = probs.topk(min(top_k, probs.shape[-1]))
            per_mask = []
            for pos, scores, ids in zip(positions[i], values.tolist(), predictions.tolist()):
                entries = []
                for score, token_id in zip(scores, ids):
                    entries.append({"token": tokenizer.decode([token_id]), "token_id": token_id, "score": score,
                                    "sequence": _sequence(tokenizer, tokens.input_ids[i], pos, token_id)})
                per_mask.append(entries)
            results[i] = per_mask

    run_head(transformer, tokens, batch_tokens, keep)
    return results[0] if single else results
