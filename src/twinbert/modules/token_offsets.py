"""Tokens of a text with their character offsets: what a server's /tokenize route shows.

Lives beside the Transformer module because it calls the tokenizer, and only modules/ does (see
tests/test_layout.py). Offsets are character positions in the text as given (end exclusive); special
tokens have (0, 0) and `special` True.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError
from .transformer import Transformer


@dataclass(frozen=True)
class Token:
    id: int
    text: str
    special: bool
    start: int
    stop: int


def token_offsets(transformer: Transformer, texts: list[str], *, add_special_tokens: bool = True) -> list[list[Token]]:
    """The tokens of each text (truncated to max_seq_length, as the model sees them) with their offsets."""
    fast = transformer._fast
    if fast is None:
        raise InputError("this model's tokenizer has no fast (Rust) version, which character offsets need")
    lowered = [transformer._lower(t) for t in texts] if transformer.do_lower_case else list(texts)
    fast.no_padding()
    fast.enable_truncation(transformer.max_seq_length)
    special_ids = set(transformer.tokenizer.all_special_ids)
    out = []
    for encoding in fast.encode_batch(lowered, add_special_tokens=add_special_tokens):
        out.append([Token(int(i), tok, bool(m) or int(i) in special_ids and (a, b) == (0, 0), int(a), int(b))
                    for i, tok, m, (a, b) in zip(encoding.ids, encoding.tokens, encoding.special_tokens_mask,
                                                 encoding.offsets)])
    return out
