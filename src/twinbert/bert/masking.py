"""Masking for masked-language-model training, as in BERT (Devlin et al., 2019).

In each block of text, round(15 % of its non-special tokens) (at least one) are chosen for
prediction; of those, 80 % become the mask token, 10 % a random non-special token and 10 % stay as
they are. Special tokens ([CLS], [SEP], [PAD] ...) are never chosen. With whole-word masking, whole
words are chosen: a word is a token with the "##" WordPiece pieces that follow it, and all its pieces
are predicted together. The masking of block i depends only on (seed, i), so it is reproducible and
does not depend on how blocks are batched.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

MASK_PROBABILITY = 0.15
IGNORE = -100  # label of a position that is not predicted


@dataclass(frozen=True)
class MaskingVocab:
    """What masking needs to know about a tokenizer."""
    mask_id: int
    special_ids: frozenset
    random_ids: np.ndarray            # ids a chosen position may become at random (the non-special tokens)
    continuation: np.ndarray | None   # bool per id: a "##" word piece (None: the vocabulary has none)

    @classmethod
    def from_tokenizer(cls, tokenizer) -> MaskingVocab:
        if tokenizer.mask_token_id is None:
            raise InputError("the tokenizer has no mask token, so it cannot be trained as a masked LM")
        size = len(tokenizer)
        special = frozenset(int(i) for i in tokenizer.all_special_ids)
        pieces = tokenizer.convert_ids_to_tokens(list(range(size)))
        continuation = np.array([isinstance(p, str) and p.startswith("##") for p in pieces])
        return cls(int(tokenizer.mask_token_id), special,
                   np.array([i for i in range(size) if i not in special], dtype=np.int64),
                   continuation if continuation.any() else None)


def _units(ids: list[int], vocab: MaskingVocab, whole_word: bool) -> tuple[list[list[int]], int]:
    """(groups of positions that are chosen together, number of non-special positions)."""
    units: list[list[int]] = []
    count = 0
    previous = False  # was the previous position a candidate?
    for pos, token in enumerate(ids):
        if token in vocab.special_ids:
            previous = False
            continue
        count += 1
        if whole_word and previous and vocab.continuation[token]:
            units[-1].append(pos)
        else:
            units.append([pos])
        previous = True
    return units, count


def mask_tokens(blocks: list[list[int]], vocab: MaskingVocab, *, seed: int, probability: float = MASK_PROBABILITY,
                whole_word: bool = False, offsets: list[int] | None = None) -> tuple[list[list[int]], list[list[int]]]:
    """(masked ids, labels) for every block: labels hold the original id at the chosen positions and
    -100 elsewhere. Block k uses the random stream of (seed, offsets[k]) (offsets default to 0, 1, ...)."""
    if not 0 < probability < 1:
        raise InputError(f"mask probability = {probability!r}: expected a fraction in (0, 1), e.g. 0.15")
    if whole_word and vocab.continuation is None:
        raise InputError("whole-word masking groups WordPiece '##' pieces, and this tokenizer has none; "
                         "train without --whole-word")
    offsets = list(range(len(blocks))) if offsets is None else list(offsets)
    inputs, labels = [], []
    for ids, offset in zip(blocks, offsets):
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(offset)])
        units, count = _units(ids, vocab, whole_word)
        target = max(1, round(count * probability)) if count else 0
        chosen: list[int] = []
        for u in rng.permutation(len(units)):
            if len(chosen) >= target:
                break
            if len(chosen) + len(units[u]) > target:
                continue  # a whole word that would overshoot the budget (BERT's reference code does the same)
            chosen.extend(units[u])
        new, label = list(ids), [IGNORE] * len(ids)
        for pos in sorted(chosen):
            label[pos] = ids[pos]
            r = rng.random()
            if r < 0.8:
                new[pos] = vocab.mask_id
            elif r < 0.9:
                new[pos] = int(vocab.random_ids[rng.integers(len(vocab.random_ids))])
        inputs.append(new)
        labels.append(label)
    return inputs, labels


__all__ = ["IGNORE", "MASK_PROBABILITY", "MaskingVocab", "mask_tokens"]
