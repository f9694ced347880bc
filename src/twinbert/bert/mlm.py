"""Masked-language-model training (continued pre-training) and its evaluation on held-out text.

Which tokens are masked, and how: twinbert.bert.masking (BERT's 15 %, 80/10/10, optionally whole words).

Loss over the chosen positions M:  L = -1/|M| sum_{t in M} log p(x_t | masked text).
Held-out metrics use ONE fixed masking (eval seed) so that scores before and after training compare:
masked-token accuracy = share of M whose most likely token is the original one; perplexity = exp(L).

Texts are tokenized without truncation and cut into blocks of at most `block_size` tokens (special
tokens included), so nothing of a long text is lost.
"""
from __future__ import annotations

import functools
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
from ..train.loop import TrainResult
from ..train.objective import Objective
from ..train.output import check_output
from ..train.settings import TrainConfig
from .masking import IGNORE, MASK_PROBABILITY, MaskingVocab, mask_tokens
from .training import HeadRun, train_head

log = logging.getLogger("twinbert")

DEFAULT_BLOCK = 128
LEARNING_RATE = 5e-5  # the default peak lr: continued pre-training moves the weights further than fine-tuning


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
    block_size = resolve_block_size(transformer, block_size)
    prefix, suffix = transformer.special_frame()
    room = block_size - len(prefix) - len(suffix)
    return [prefix + ids[start:start + room] + suffix
            for ids in transformer.pieces(list(texts)) for start in range(0, len(ids), room)]


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
    device = transformer.device
    counts: dict[int, tuple] = {}  # per batch (by its first row), summed in one order whatever the threads

    def score(index: np.ndarray, batch: tuple) -> None:
        ids, mask, _ = batch
        labels, _, _ = batching.padded(masked.labels, None, index, IGNORE, device)
        chosen = labels != IGNORE
        counts[int(index[0])] = masked_lm_counts(masked_logits(transformer, ids, mask, chosen), labels[chosen])

    was_training = transformer.training
    transformer.eval()
    try:
        batching.run_batches(masked.inputs, None, transformer.pad_id, score,
                             batch_tokens=batch_tokens or batching.DEFAULT_BATCH_TOKENS, device=device,
                             context=torch.inference_mode)
    finally:
        transformer.train(was_training)
    totals = [sum(counts[k][j] for k in sorted(counts)) for j in range(3)]
    return {**masked_lm_metrics(*totals), "blocks": len(masked.inputs)}


def evaluate_masked_lm(model, texts, *, seed: int = 0, probability: float = MASK_PROBABILITY,
                       whole_word: bool = False, block_size: int | None = None, batch_tokens: int | None = None,
                       device: str | None = None, allow_new_head: bool = False, precision: str = "float32",
                       trust_remote_code: bool = False) -> dict:
    """Masked-token accuracy and perplexity of a masked-LM (a Transformer from load_masked_lm, or a folder
    with a masked-LM head) on held-out text, masked once with `seed`. allow_new_head=True scores a model
    without a masked-LM head through a new, random one drawn with `seed` too: the baseline before training."""
    from .heads import load_masked_lm

    transformer = model if isinstance(model, Transformer) else load_masked_lm(
        model, allow_new_head=allow_new_head, device=device, precision=precision,
        trust_remote_code=trust_remote_code, seed=seed)
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
        device = transformer.device
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
    randomly initialized one (drawn with `seed`, logged)."""
    from .heads import load_masked_lm

    if isinstance(model, Transformer):
        return model
    transformer = load_masked_lm(model, allow_new_head=True, device=device, trust_remote_code=trust_remote_code,
                                 seed=seed)
    if _new_head(transformer):
        log.info("continued pre-training of %s with a NEW masked-LM head: its scores before training are "
                 "those of a random head", model)
    return transformer


def _new_head(transformer: Transformer) -> bool:
    prefix = transformer.model.base_model_prefix + "."
    return any(not k.startswith(prefix) for k in transformer.missing_keys)


def train_masked_lm(model, data, config: TrainConfig, output: str | os.PathLike, *, eval_data=None,
                    whole_word: bool = False, probability: float = MASK_PROBABILITY, block_size: int | None = None,
                    eval_seed: int = 0, resume: bool = False, overwrite: bool = False, device: str | None = None,
                    show_progress: bool = True, trust_remote_code: bool = False) -> TrainResult:
    """Continue pre-training with the masked-LM objective (see the module docstring); lr defaults to
    LEARNING_RATE (5e-5) when config.lr is unset.

    model: a masked-LM Transformer, a checkpoint with a masked-LM head, or any encoder (plain checkpoint or
    sentence-transformers folder), which gets a new head. data / eval_data: a Dataset of texts
    (WikiText-2: one example per line) or a list of texts. The evaluation masks eval_data once with
    `eval_seed`; its main metric is the masked-token accuracy. The output folder holds a BertForMaskedLM
    style checkpoint with its tokenizer (twinbert fill-mask and transformers load it).
    """
    from ..train.distributed import device_for_rank

    config = config.checked(LEARNING_RATE)
    output = check_output(output, resume, overwrite, sources=[model])
    texts = _texts(data, "training data")
    eval_texts = None if eval_data is None else _texts(eval_data, "evaluation data")
    transformer = load_for_training(model, seed=config.seed, device=device_for_rank(device),
                                    trust_remote_code=trust_remote_code)
    block_size = resolve_block_size(transformer, block_size)
    blocks = text_blocks(transformer, texts, block_size)
    objective = MaskedLMObjective(transformer, blocks, probability=probability, whole_word=whole_word)
    held_out = [] if eval_texts is None else [(fixed_masking(transformer, eval_texts, seed=eval_seed,
                                                             probability=probability, whole_word=whole_word,
                                                             block_size=block_size),)]
    job = HeadRun(
        model=transformer, objective=objective, save=transformer.save, data=[data],
        settings={"loss": "masked-lm", "probability": probability, "whole_word": whole_word,
                  "block_size": block_size, "eval_seed": eval_seed},
        main_metric="accuracy", score=functools.partial(_held_out_scores, transformer),
        eval_data=[] if eval_data is None else [eval_data], eval_sets=held_out,
        title="a masked language model (continued pre-training with twinbert)",
        summary=_summary(model, transformer, probability, whole_word, block_size, len(blocks), eval_seed),
        usage=["from twinbert.bert import fill_mask, load_masked_lm", "",
               f"model = load_masked_lm({str(output)!r})",
               "print(fill_mask(model, \"Paris is the [MASK] of France.\"))"])
    return train_head(model, job, config, output, resume=resume, show_progress=show_progress)


def _summary(model, transformer: Transformer, probability: float, whole_word: bool, block_size: int, blocks: int,
             eval_seed: int) -> str:
    """The model card's account of the model and its masking."""
    base = model if not isinstance(model, Transformer) else "a masked-LM"
    new = " with a NEW masked-LM head (randomly initialized before training)" if _new_head(transformer) else ""
    return (f"Base model: `{base}` as `{type(transformer.model).__name__}`{new}. Masking: {probability:.0%} of the "
            "tokens per block, 80/10/10 mask/random/keep, " + ("whole words" if whole_word else "single word pieces")
            + f"; blocks of at most {block_size} tokens ({blocks} training blocks). Held-out metrics use one fixed "
            f"masking (seed {eval_seed}).")


def _held_out_scores(transformer: Transformer, masked: MaskedBlocks) -> dict:
    metrics = score_masked(transformer, masked)
    return {k: metrics[k] for k in ("accuracy", "perplexity", "loss")}


__all__ = ["text_blocks", "masked_logits", "masked_lm_counts", "masked_lm_metrics", "evaluate_masked_lm",
           "fixed_masking", "score_masked", "MaskedLMObjective", "train_masked_lm", "load_for_training",
           "LEARNING_RATE"]
