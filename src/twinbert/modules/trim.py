"""Vocabulary trimming: keep the tokens a user's languages need, drop the other rows of the embedding table.

multilingual-e5-small spends 96M of its 117M parameters on a 250k-row table, most of it scripts a Korean
user never sees. `trim_vocabulary` keeps

- every special token,
- every token made only of characters of the kept scripts and of "common" characters (digits,
  punctuation, symbols, spaces: Unicode categories N*, P*, S*, Z*),
- every token the tokenizer produces on the given corpus texts,

and rebuilds the tokenizer (Unigram or WordPiece) and the embedding table with those rows, in their old
order. A text whose tokens are all kept gets the same tokens and so the same vectors: removing pieces a
segmentation did not use cannot change a Unigram (Viterbi) or WordPiece (longest match) result. Other
texts fall back to the tokens that remain (shorter pieces, then single characters, then the unknown
token for a character that is not kept at all).
"""
from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable

import torch

from ..checks import text_list
from ..errors import InputError

COMMON = "common"
_SCRIPT_ALIASES = {"han": "cjk", "chinese": "cjk", "korean": "hangul", "japanese": "hiragana,katakana,cjk"}


def char_script(char: str) -> str:
    """'common' for digits, punctuation, symbols and spaces; else the first word of the character's
    Unicode name, lower-cased ('hangul', 'latin', 'cjk', 'cyrillic', 'hiragana' ...)."""
    if unicodedata.category(char)[0] in "NPSZ":
        return COMMON
    name = unicodedata.name(char, "")
    return name.split(" ", 1)[0].lower() if name else "unknown"


def parse_scripts(scripts: str | Iterable[str]) -> set[str]:
    items = scripts.split(",") if isinstance(scripts, str) else list(scripts)
    out: set[str] = set()
    for item in items:
        item = str(item).strip().lower()
        if not item:
            continue
        out.update(_SCRIPT_ALIASES.get(item, item).split(","))
    if not out:
        raise InputError("keep_scripts is empty: name at least one script, e.g. 'hangul,latin'",
                         argument="keep_scripts")
    return out


def _piece_text(piece: str, kind: str) -> str:
    if kind == "WordPiece":
        return piece[2:] if piece.startswith("##") else piece
    return piece.replace("\u2581", "")


def kept_ids(tokenizer, scripts: set[str], corpus: list[str] | None = None) -> list[int]:
    """Ids of the tokens to keep, ascending."""
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    kind = state["model"]["type"]
    vocab = _vocab_list(state)
    keep = {t["id"] for t in state.get("added_tokens", [])}
    allowed = scripts | {COMMON}
    for i, piece in enumerate(vocab):
        text = _piece_text(piece, kind)
        if all(char_script(c) in allowed for c in text):
            keep.add(i)
    if corpus:
        for encoding in tokenizer.backend_tokenizer.encode_batch(corpus, add_special_tokens=False):
            keep.update(encoding.ids)
    return sorted(keep)


def _vocab_list(state: dict) -> list[str]:
    model = state["model"]
    if model["type"] == "Unigram":
        return [piece for piece, _ in model["vocab"]]
    if model["type"] == "WordPiece":
        out = [""] * len(model["vocab"])
        for token, i in model["vocab"].items():
            out[i] = token
        return out
    raise InputError(f"vocabulary trimming supports Unigram (SentencePiece) and WordPiece tokenizers, "
                     f"not {model['type']}", argument="model")


def _trimmed_tokenizer(tokenizer, keep: list[int]):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    new_id = {old: new for new, old in enumerate(keep)}
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    model = state["model"]
    if model["type"] == "Unigram":
        model["vocab"] = [model["vocab"][i] for i in keep]
        if model.get("unk_id") is not None:
            model["unk_id"] = new_id[model["unk_id"]]
    else:
        model["vocab"] = {token: new_id[i] for token, i in model["vocab"].items() if i in new_id}
    for token in state.get("added_tokens", []):
        token["id"] = new_id[token["id"]]
    _renumber_specials(state.get("post_processor"), new_id)
    backend = Tokenizer.from_str(json.dumps(state))
    specials = {k: getattr(tokenizer, k) for k in ("bos_token", "eos_token", "unk_token", "sep_token",
                                                   "pad_token", "cls_token", "mask_token")
                if getattr(tokenizer, k, None) is not None}
    return PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=tokenizer.model_max_length,
                                   **specials)


def _renumber_specials(processor: dict | None, new_id: dict[int, int]) -> None:
    """Special token ids inside a post-processor (TemplateProcessing, BertProcessing, RobertaProcessing,
    or a Sequence of them) follow the new numbering."""
    if not processor:
        return
    for child in processor.get("processors", []) or []:
        _renumber_specials(child, new_id)
    for spec in (processor.get("special_tokens") or {}).values():
        spec["ids"] = [new_id[i] for i in spec["ids"]]
    for key in ("sep", "cls"):
        if isinstance(processor.get(key), list):
            processor[key][1] = new_id[processor[key][1]]


def trim_vocabulary(encoder, keep_scripts: str | Iterable[str] = ("hangul",), corpus=None):
    """Trim `encoder`'s vocabulary in place (see the module docstring); returns (encoder, report)."""
    scripts = parse_scripts(keep_scripts)
    texts = None if corpus is None else text_list(corpus, "corpus")
    transformer = encoder.transformer
    before = len(transformer.tokenizer)
    keep = kept_ids(transformer.tokenizer, scripts, texts)
    params_before = sum(p.numel() for p in encoder.parameters())
    tokenizer = _trimmed_tokenizer(transformer.tokenizer, keep)
    model = transformer.model
    table = model.get_input_embeddings().weight.detach()
    index = torch.tensor(keep, dtype=torch.long, device=table.device)
    pad = tokenizer.pad_token_id
    embedding = torch.nn.Embedding(len(keep), table.shape[1], padding_idx=pad, device=table.device,
                                   dtype=table.dtype)
    with torch.no_grad():
        embedding.weight.copy_(table.index_select(0, index))
    model.set_input_embeddings(embedding)
    model.config.vocab_size = len(keep)
    for key in ("pad_token_id", "bos_token_id", "eos_token_id"):
        old = getattr(model.config, key, None)
        if old is not None:
            setattr(model.config, key, keep.index(old) if old in keep else None)
    transformer.replace_tokenizer(tokenizer)
    report = {"scripts": sorted(scripts), "tokens_before": before, "tokens_after": len(keep),
              "parameters_before": params_before, "parameters_after": sum(p.numel() for p in encoder.parameters()),
              "corpus_texts": len(texts or [])}
    return encoder, report


def trim_to_folder(encoder, output, keep_scripts: str | Iterable[str] = ("hangul",), corpus_files=(),
                   column: str | None = None, overwrite: bool = False) -> dict:
    """Trim `encoder` with the texts of `corpus_files` (txt / csv / tsv / jsonl, `column` naming the text
    field) and save it to `output` (see SentenceEncoder.save for `overwrite`); returns the report."""
    from ..formats.model_folder import check_target, save_model, source_folders
    from ..formats.texts import read_texts

    # before any work: the folder must be free (a model there only with overwrite), and never the folder
    # of the model being trimmed, by path or by name (trimming drops tokens for good)
    sources = source_folders(encoder.name)
    check_target(output, overwrite=overwrite, model_ok=False, sources=sources)
    corpus = []
    for path in corpus_files:
        texts = [text for text in read_texts(path, column) if text.strip()]
        if not texts:  # asked for, so it must count: an empty file would silently keep nothing of it
            raise InputError(f"{path}: no texts in this corpus file", argument="corpus_files")
        corpus += texts
    _, report = trim_vocabulary(encoder, keep_scripts, corpus if corpus_files else None)
    save_model(output, encoder._write, overwrite=overwrite, model_ok=False, sources=sources)
    return {**report, "output": str(output), "corpus_files": [str(p) for p in corpus_files]}
