"""Masked-language-model training (continued pre-training) and its evaluation on held-out text.

Masking, as in BERT (Devlin et al., 2019): in each block of text, round(15 % of its non-special tokens)
(at least one) are chosen for prediction; of those, 80 % become the mask token, 10 % a random
non-special token and 10 % stay as they are. Special tokens ([CLS], [SEP], [PAD] ...) are never chosen.
With whole-word masking, whole words are chosen: a word is a token with the "##" WordPiece pieces
that follow it, and all its pieces are predicted together. The masking of block i depends only on
(seed, i), so it is reproducible and does not depend on how blocks are batched.

Loss over the chosen positions M:  L = -1/|M| sum_{t in M} log p(x_t | masked text).
Held-out metrics use ONE fixed masking (eval seed) so that scores before and after training compare:
masked-token accuracy = share of M whose most likely token is the original one; perplexity = exp(L).

Texts are tokenized without truncation and cut into blocks of at most `block_size` tokens (special
tokens included), so nothing of a long text is lost.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .. import batching
from ..errors import InputError
from ..modules.transformer import Transformer
from ..train.checkpoint import run_identity
from ..train.loop import TrainConfig, TrainResult, fit
from ..train.objective import Objective
from ..train.loop import check_output
from .training import dataset_source, head_card, now

log = logging.getLogger("twinbert")

MASK_PROBABILITY = 0.15
IGNORE = -100  # label of a position that is not predicted
DEFAULT_BLOCK = 128


@dataclass(frozen=True)
class MaskingVocab:
    """What masking needs to know about a tokenizer."""
    mask_id: int
    special_ids: frozenset
    random_ids: np.ndarray            # ids a chosen position may become at random (the non-special tokens)
    continuation: np.ndarray | None   # bool per id: a "##" word piece (None: the vocabulary has none)

    @classmethod
    def from_tokenizer(cls, tokenizer) -> "MaskingVocab":
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


def resolve_block_size(transformer: Transformer, block_size: int | None) -> int:
    """`block_size`, checked against the model's max_seq_length; None: 128 or max_seq_length when shorter."""
    limit = transformer.max_seq_length
    if block_size is None:
        return min(DEFAULT_BLOCK, limit)
    if isinstance(block_size, bool) or not isinstance(block_size, int) or not 8 <= block_size <= limit:
        raise InputError(f"block_size = {block_size!r}: expected a whole number of tokens from 8 to {limit} "
                         "(the model's max_seq_length)")
    return block_size


def text_blocks(transformer: Transformer, texts: list[str], block_size: int | None = None) -> list[list[int]]:
    """Every text tokenized without truncation and cut into consecutive blocks of at most `block_size`
    tokens (default: 128 or the model's max_seq_length when shorter), special tokens ([CLS] ... [SEP])
    included. Texts without tokens give no block."""
    tokenizer = transformer.tokenizer
    block_size = resolve_block_size(transformer, block_size)
    if transformer.do_lower_case:
        texts = [transformer._lower(t) for t in texts]  # as Transformer.tokenize does (special tokens kept)
    fast = getattr(tokenizer, "backend_tokenizer", None)
    if fast is not None:
        fast.no_truncation()
        fast.no_padding()
        pieces = [e.ids for e in fast.encode_batch(list(texts), add_special_tokens=False)]
    else:
        pieces = tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]
    prefix, suffix = _special_frame(tokenizer)
    room = block_size - len(prefix) - len(suffix)
    return [prefix + ids[start:start + room] + suffix for ids in pieces for start in range(0, len(ids), room)]


def _special_frame(tokenizer) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts before and after one text ([CLS] / [SEP], <s> / </s> ...)."""
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    for i in range(len(full) - len(bare) + 1):
        if full[i:i + len(bare)] == bare:
            return list(full[:i]), list(full[i + len(bare):])
    raise InputError("cannot tell which special tokens the tokenizer adds around a text")


def _texts(data, what: str) -> list[str]:
    if isinstance(data, str):
        return [data]
    examples = data.examples if hasattr(data, "examples") else list(data)
    texts = [getattr(e, "text", e) for e in examples]
    where = str(getattr(data, "path", None) or what)
    for k, t in enumerate(texts, 1):
        if not isinstance(t, str):
            raise InputError(f"{where}: example {k} is {type(t).__name__}, expected a text")
    if not any(t.strip() for t in texts):
        raise InputError(f"{where}: no text; masked-LM training and evaluation need at least one non-blank text")
    return texts


def masked_lm_counts(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, int, int]:
    """(sum of -log p(original token), correct argmax predictions, predicted positions) over the
    positions whose label is not -100 (logits [..., vocabulary], labels of the same leading shape)."""
    chosen = labels != IGNORE
    count = int(chosen.sum())
    if count == 0:
        return 0.0, 0, 0
    picked, gold = logits[chosen].float(), labels[chosen]
    nll = F.cross_entropy(picked, gold, reduction="sum").item()
    correct = int((picked.argmax(dim=-1) == gold).sum())
    return nll, correct, count


def masked_lm_metrics(nll: float, correct: int, count: int) -> dict:
    """{"accuracy": correct / count, "loss": nll / count, "perplexity": exp(loss), "masked_tokens": count}."""
    if count == 0:
        raise InputError("no masked tokens to score: the evaluation text is too short")
    loss = nll / count
    return {"accuracy": correct / count, "loss": loss, "perplexity": math.exp(min(loss, 700.0)),
            "masked_tokens": count}


@dataclass
class MaskedBlocks:
    """A fixed masking of held-out blocks."""
    inputs: list[list[int]]
    labels: list[list[int]]


def fixed_masking(transformer: Transformer, texts, *, seed: int = 0, probability: float = MASK_PROBABILITY,
                  whole_word: bool = False, block_size: int | None = None) -> MaskedBlocks:
    blocks = text_blocks(transformer, _texts(texts, "evaluation text"), block_size)
    inputs, labels = mask_tokens(blocks, MaskingVocab.from_tokenizer(transformer.tokenizer), seed=seed,
                                 probability=probability, whole_word=whole_word)
    return MaskedBlocks(inputs, labels)


HEADS = ("cls", "lm_head")  # the masked-LM head module of BertForMaskedLM / RobertaForMaskedLM and kin


def masked_logits(transformer: Transformer, ids: torch.Tensor, mask: torch.Tensor,
                  chosen: torch.Tensor) -> torch.Tensor:
    """[chosen positions, vocabulary] logits. Where the head is a per-token module on the encoder's output
    (BERT's `cls`, RoBERTa's `lm_head`), only the chosen positions go through it (the vocabulary projection
    is most of a small model's cost); otherwise the full logits are computed and the positions picked."""
    model = transformer.model
    base = getattr(model, model.base_model_prefix, None)
    head = next((getattr(model, name) for name in HEADS if isinstance(getattr(model, name, None), torch.nn.Module)),
                None)
    if base is None or head is None:
        return model(input_ids=ids, attention_mask=mask).logits[chosen]
    hidden = base(input_ids=ids, attention_mask=mask).last_hidden_state
    return head(hidden[chosen])


def score_masked(transformer: Transformer, masked: MaskedBlocks, *, batch_tokens: int | None = None) -> dict:
    """Masked-token accuracy, loss and perplexity of a masked-LM on a fixed masking (batched)."""
    device = next(transformer.model.parameters()).device
    totals = [0.0, 0, 0]
    was_training = transformer.training
    transformer.eval()
    try:
        with torch.inference_mode():
            for index in batching.plan_batches([len(x) for x in masked.inputs],
                                               batch_tokens or batching.DEFAULT_BATCH_TOKENS):
                ids, mask, _ = batching.padded(masked.inputs, None, index, transformer.pad_id, device)
                labels, _, _ = batching.padded(masked.labels, None, index, IGNORE, device)
                chosen = labels != IGNORE
                logits = masked_logits(transformer, ids, mask, chosen)
                for k, v in enumerate(masked_lm_counts(logits, labels[chosen])):
                    totals[k] += v
    finally:
        transformer.train(was_training)
    return {**masked_lm_metrics(*totals), "blocks": len(masked.inputs)}


def evaluate_masked_lm(model, texts, *, seed: int = 0, probability: float = MASK_PROBABILITY,
                       whole_word: bool = False, block_size: int | None = None, batch_tokens: int | None = None,
                       device: str | None = None) -> dict:
    """Masked-token accuracy and perplexity of a masked-LM (a Transformer from load_masked_lm, or a folder
    with a masked-LM head) on held-out text, masked once with `seed`."""
    from .heads import load_masked_lm

    transformer = model if isinstance(model, Transformer) else load_masked_lm(model, device=device)
    block_size = resolve_block_size(transformer, block_size)
    masked = fixed_masking(transformer, texts, seed=seed, probability=probability, whole_word=whole_word,
                           block_size=block_size)
    return {**score_masked(transformer, masked, batch_tokens=batch_tokens), "seed": seed,
            "whole_word": whole_word, "block_size": block_size}


class MaskedLMObjective(Objective):
    """Blocks of text, masked afresh at every step (the seed comes from torch's generator, which the
    training loop seeds and checkpoints, so a resumed run masks exactly as the interrupted one)."""
    name = "masked-lm"

    def __init__(self, transformer: Transformer, blocks: list[list[int]], *, probability: float = MASK_PROBABILITY,
                 whole_word: bool = False):
        super().__init__()
        self.transformer = [transformer]  # a list: the weights belong to the model, not to this objective
        self.blocks = blocks
        self.vocab = MaskingVocab.from_tokenizer(transformer.tokenizer)
        self.probability = probability
        self.whole_word = whole_word
        mask_tokens(blocks[:1], self.vocab, seed=0, probability=probability, whole_word=whole_word)  # checks

    def __len__(self) -> int:
        return len(self.blocks)

    def lengths(self) -> list[int]:
        return [len(b) for b in self.blocks]

    def loss(self, rows: list[int]) -> torch.Tensor:
        transformer = self.transformer[0]
        device = next(transformer.model.parameters()).device
        seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
        inputs, labels = mask_tokens([self.blocks[r] for r in rows], self.vocab, seed=seed, offsets=rows,
                                     probability=self.probability, whole_word=self.whole_word)
        index = np.arange(len(rows))
        ids, mask, _ = batching.padded(inputs, None, index, transformer.pad_id, device)
        gold, _, _ = batching.padded(labels, None, index, IGNORE, device)
        chosen = gold != IGNORE
        if not bool(chosen.any()):  # every row too short to mask: a zero loss that keeps the graph
            return sum(p.sum() for p in transformer.model.parameters()) * 0.0
        return F.cross_entropy(masked_logits(transformer, ids, mask, chosen).float(), gold[chosen])


def load_for_training(model, *, seed: int = 42, device: str | None = None,
                      trust_remote_code: bool = False) -> Transformer:
    """A masked-LM to train: a checkpoint's own head, or (any encoder, e.g. all-MiniLM-L6-v2) a new,
    randomly initialized one (seeded, logged)."""
    from .heads import load_masked_lm

    if isinstance(model, Transformer):
        return model
    torch.manual_seed(seed)
    transformer = load_masked_lm(model, allow_new_head=True, device=device, trust_remote_code=trust_remote_code)
    prefix = transformer.model.base_model_prefix + "."
    if any(not k.startswith(prefix) for k in transformer.missing_keys):
        log.info("continued pre-training of %s with a NEW masked-LM head: its scores before training are "
                 "those of a random head", model)
    return transformer


def train_masked_lm(model, data, config: TrainConfig, output: str | os.PathLike, *, eval_data=None,
                    whole_word: bool = False, probability: float = MASK_PROBABILITY, block_size: int | None = None,
                    eval_seed: int = 0, resume: bool = False, overwrite: bool = False, device: str | None = None,
                    show_progress: bool = True, trust_remote_code: bool = False) -> TrainResult:
    """Continue pre-training with the masked-LM objective (see the module docstring).

    model: a masked-LM Transformer, a checkpoint with a masked-LM head, or any encoder (plain checkpoint or
    sentence-transformers folder), which gets a new head. data / eval_data: a Dataset of texts
    (WikiText-2: one example per line) or a list of texts. The evaluation masks eval_data once with
    `eval_seed`; its main metric is the masked-token accuracy. The output folder holds a BertForMaskedLM
    style checkpoint with its tokenizer (twinbert fill-mask and transformers load it).
    """
    from ..train.distributed import current, device_for_rank

    config.check()
    output = check_output(output, resume, overwrite)
    texts = _texts(data, "training data")
    eval_texts = None if eval_data is None else _texts(eval_data, "evaluation data")
    transformer = load_for_training(model, seed=config.seed, device=device_for_rank(device),
                                    trust_remote_code=trust_remote_code)
    block_size = resolve_block_size(transformer, block_size)
    blocks = text_blocks(transformer, texts, block_size)
    objective = MaskedLMObjective(transformer, blocks, probability=probability, whole_word=whole_word)
    held_out = None if eval_texts is None else fixed_masking(transformer, eval_texts, seed=eval_seed,
                                                             probability=probability, whole_word=whole_word,
                                                             block_size=block_size)

    def evaluate() -> dict:
        metrics = score_masked(transformer, held_out)
        return {k: float(metrics[k]) for k in ("accuracy", "perplexity", "loss")}

    has_eval = held_out is not None
    records = [dataset_source(data)] + ([dataset_source(eval_data, "eval")] if has_eval else [])
    run = run_identity(model, records[:1], records[1:], loss="masked-lm", probability=probability,
                       whole_word=whole_word, block_size=block_size, eval_seed=eval_seed)
    started = now()
    before = evaluate() if has_eval and not resume and current().is_main else None
    if before:
        log.info("before training: masked-token accuracy %.4f, perplexity %.2f", before["accuracy"],
                 before["perplexity"])
    eval_name = (f"{getattr(eval_data, 'name', 'eval')}:{getattr(eval_data, 'split', '')}" if has_eval else None)

    def card(result: TrainResult) -> str:
        new_head = any(not k.startswith(transformer.model.base_model_prefix + ".") for k in transformer.missing_keys)
        return head_card(
            title="a masked language model (continued pre-training with twinbert)",
            summary=[f"Base model: `{model if not isinstance(model, Transformer) else 'a masked-LM'}` as "
                     f"`{type(transformer.model).__name__}`"
                     + (" with a NEW masked-LM head (randomly initialized before training)" if new_head else "")
                     + f". Masking: {probability:.0%} of the tokens per block, 80/10/10 mask/random/keep, "
                     + ("whole words" if whole_word else "single word pieces")
                     + f"; blocks of at most {block_size} tokens ({len(blocks)} training blocks). Held-out "
                     f"metrics use one fixed masking (seed {eval_seed})."],
            data=records, config=config, result=result, evals=[eval_name] if eval_name else [],
            main_metric="accuracy" if has_eval else None, before=before, started=started,
            usage=["from twinbert.bert import fill_mask, load_masked_lm", "",
                   f"model = load_masked_lm({str(result.output)!r})",
                   "print(fill_mask(model, \"Paris is the [MASK] of France.\"))"])

    return fit(transformer, [objective], config, output, save_model=transformer.save,
               evaluate=evaluate if has_eval else None, main_metric="accuracy" if has_eval else None, card=card,
               resume=resume, show_progress=show_progress, run=run)


__all__ = ["MaskingVocab", "mask_tokens", "text_blocks", "masked_logits", "masked_lm_counts", "masked_lm_metrics",
           "evaluate_masked_lm", "fixed_masking", "score_masked", "MaskedLMObjective", "train_masked_lm",
           "load_for_training"]
