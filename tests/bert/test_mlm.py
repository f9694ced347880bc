"""Masked-LM: masking statistics and determinism, whole words, metrics by hand, training through the loop, CLI."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from twinbert.bert import evaluate_masked_lm, fill_mask, load_masked_lm, mask_tokens, train_masked_lm
from twinbert.bert.masking import IGNORE, MaskingVocab
from twinbert.bert.mlm import masked_lm_counts, masked_lm_metrics, masked_logits, text_blocks
from twinbert.errors import InputError, ModelLoadError
from twinbert.train.loop import TrainConfig

SPECIALS = frozenset({0, 1, 2, 3})  # pad, cls, sep, mask
MASK = 3
TEXTS = ["the cat sat on the mat .", "i love paris and soccer !", "the dog ran in the park .",
         "a man is playing guitar", "the woman is very happy", "the game is really fun !"] * 4


def vocab(size: int = 2000, continuation=None) -> MaskingVocab:
    return MaskingVocab(MASK, SPECIALS, np.arange(4, size), continuation)


def random_blocks(n: int, length: int, size: int = 2000, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [[1, *rng.integers(4, size, length - 2).tolist(), 2] for _ in range(n)]


def test_masking_statistics_80_10_10_and_specials_untouched():
    blocks = random_blocks(400, 102)  # 40,000 maskable tokens
    inputs, labels = mask_tokens(blocks, vocab(), seed=7)
    chosen = masked = random = kept = 0
    for ids, new, lab in zip(blocks, inputs, labels):
        assert lab[0] == lab[-1] == IGNORE and new[0] == 1 and new[-1] == 2  # [CLS] / [SEP] never chosen
        picked = [k for k, x in enumerate(lab) if x != IGNORE]
        assert len(picked) == round(100 * 0.15)
        assert all(new[k] == ids[k] for k in range(len(ids)) if lab[k] == IGNORE)
        assert all(lab[k] == ids[k] for k in picked)
        chosen += len(picked)
        masked += sum(new[k] == MASK for k in picked)
        random += sum(new[k] not in (MASK, ids[k]) for k in picked)
        kept += sum(new[k] == ids[k] for k in picked)
    assert chosen == 6000
    assert masked / chosen == pytest.approx(0.8, abs=0.02)
    assert random / chosen == pytest.approx(0.1, abs=0.015)
    assert kept / chosen == pytest.approx(0.1, abs=0.015)
    assert not any(x in SPECIALS for ids in inputs for x in ids[1:-1] if x != MASK)  # random tokens: never special


def test_masking_is_deterministic_by_seed_and_independent_of_batching():
    blocks = random_blocks(20, 30)
    first = mask_tokens(blocks, vocab(), seed=1)
    assert first == mask_tokens(blocks, vocab(), seed=1)
    assert first != mask_tokens(blocks, vocab(), seed=2)
    alone = mask_tokens(blocks[7:8], vocab(), seed=1, offsets=[7])
    assert (alone[0][0], alone[1][0]) == (first[0][7], first[1][7])


def test_whole_word_groups_are_chosen_together():
    size = 2000
    continuation = np.zeros(size, dtype=bool)
    continuation[1000:] = True  # ids >= 1000 are "##" pieces
    rng = np.random.default_rng(0)
    blocks, words = [], []
    for _ in range(200):
        ids, spans = [1], []
        while len(ids) < 60:
            n = int(rng.integers(1, 4))
            spans.append(list(range(len(ids), len(ids) + n)))
            ids += [int(rng.integers(4, 1000))] + rng.integers(1000, size, n - 1).tolist()
        blocks.append(ids + [2])
        words.append(spans)
    inputs, labels = mask_tokens(blocks, vocab(size, continuation), seed=3, whole_word=True)
    total = 0
    for ids, lab, spans in zip(blocks, labels, words):
        for span in spans:
            picked = [lab[k] != IGNORE for k in span]
            assert all(picked) or not any(picked)
        count = sum(x != IGNORE for x in lab)
        assert 0 < count <= round((len(ids) - 2) * 0.15)
        total += count
    assert total / sum(len(b) - 2 for b in blocks) == pytest.approx(0.15, abs=0.02)
    with pytest.raises(InputError, match="whole-word masking groups WordPiece '##' pieces, and this tokenizer has"):
        mask_tokens(blocks, vocab(size), seed=3, whole_word=True)


def test_vocab_and_blocks_from_a_real_tokenizer(tiny_bert):
    model = load_masked_lm(tiny_bert, allow_new_head=True, device="cpu")
    v = MaskingVocab.from_tokenizer(model.tokenizer)
    tokenizer = model.tokenizer
    assert v.mask_id == tokenizer.mask_token_id and set(tokenizer.all_special_ids) <= v.special_ids
    piece, word = tokenizer.convert_tokens_to_ids(["##s", "cat"])
    assert v.continuation[piece] and not v.continuation[word]
    long = " ".join(["the cats playing in the park"] * 10)  # 80 tokens: the cat ##s play ##ing in the park
    blocks = text_blocks(model, [long, "", "dog"], block_size=16)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    assert all(len(b) <= 16 and b[0] == cls and b[-1] == sep for b in blocks)
    inner = [x for b in blocks[:-1] for x in b[1:-1]]
    assert inner == tokenizer(long, add_special_tokens=False)["input_ids"] and len(blocks) == math.ceil(80 / 14) + 1
    assert blocks[-1] == [cls, tokenizer.convert_tokens_to_ids("dog"), sep]  # the empty text gives no block
    with pytest.raises(InputError, match="block_size = 4: expected a whole number of tokens from 8 to 64"):
        text_blocks(model, [long], block_size=4)
    # the head applied to the chosen positions only == the full logits at those positions
    inputs, labels = mask_tokens(blocks, v, seed=0)
    ids = torch.tensor([b + [0] * (16 - len(b)) for b in inputs])
    mask = (torch.arange(16)[None, :] < torch.tensor([len(b) for b in inputs])[:, None]).long()
    chosen = torch.tensor([lab + [IGNORE] * (16 - len(lab)) for lab in labels]) != IGNORE
    with torch.no_grad():
        full = model.model(input_ids=ids, attention_mask=mask).logits[chosen]
        torch.testing.assert_close(masked_logits(model, ids, mask, chosen), full, atol=1e-5, rtol=1e-5)


def test_metrics_by_hand():
    logits = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [5.0, 5.0, 0.0]]])
    labels = torch.tensor([[0, 2, IGNORE, 1]])
    nll, correct, count = masked_lm_counts(logits, labels)
    log_z = [math.log(math.exp(2) + 2), math.log(math.e + 2), math.log(2 * math.exp(5) + 1)]
    expected = (log_z[0] - 2) + (log_z[1] - 0) + (log_z[2] - 5)
    assert nll == pytest.approx(expected, rel=1e-6)
    assert (correct, count) == (1, 3)  # position 0 right; position 1 predicts 1, not 2; a tie at 3 picks index 0
    metrics = masked_lm_metrics(nll, correct, count)
    assert metrics["accuracy"] == pytest.approx(1 / 3)
    assert metrics["perplexity"] == pytest.approx(math.exp(expected / 3))
    with pytest.raises(InputError, match="no masked tokens to score"):
        masked_lm_metrics(0.0, 0, 0)


def test_training_loss_falls_and_the_folder_fills_masks(tmp_path, tiny_bert):
    from transformers import AutoModelForMaskedLM

    config = TrainConfig(epochs=6, batch_size=8, lr=5e-3, warmup=0.0, log_every=1, seed=5)
    result = train_masked_lm(str(tiny_bert), TEXTS, config, tmp_path / "mlm", eval_data=TEXTS[:6], device="cpu",
                             show_progress=False)
    rows = [json.loads(line) for line in (tmp_path / "mlm" / "train_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if r["event"] == "train"]
    assert result.steps == 18 and np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.5
    assert set(result.best_metrics) == {"accuracy", "perplexity", "loss"}
    assert "NEW masked-LM head" in (tmp_path / "mlm" / "README.md").read_text()
    model = load_masked_lm(tmp_path / "mlm", device="cpu")  # its own head now: no allow_new_head needed
    assert model.missing_keys == []
    first = evaluate_masked_lm(model, TEXTS[:6], seed=0)
    assert first == evaluate_masked_lm(model, TEXTS[:6], seed=0)  # the fixed masking: same figures
    assert first["accuracy"] == pytest.approx(result.best_metrics["accuracy"])
    assert first["perplexity"] < 46  # better than uniform over the 46-token vocabulary
    answers = fill_mask(model, "the cat sat on the [MASK] .")
    assert len(answers) == 1 and len(answers[0]) == 5
    assert AutoModelForMaskedLM.from_pretrained(str(tmp_path / "mlm")).config.architectures == ["BertForMaskedLM"]


def test_the_library_owns_the_masked_lm_defaults(tmp_path, tiny_bert):
    """lr 5e-5 when the config leaves it unset (the CLI trains with the same), a new head drawn with the
    seed (the baseline before training is the same on every run)."""
    train_masked_lm(str(tiny_bert), TEXTS, TrainConfig(max_steps=1, batch_size=8), tmp_path / "mlm", device="cpu",
                    show_progress=False)
    assert '"lr": 5e-05' in (tmp_path / "mlm" / "README.md").read_text()
    runs = [evaluate_masked_lm(str(tiny_bert), TEXTS[:6], seed=3, allow_new_head=True, device="cpu")
            for _ in range(2)]
    assert runs[0] == runs[1]


def test_bad_input(tiny_bert):
    with pytest.raises(InputError, match="evaluation text: no text"):
        evaluate_masked_lm(load_masked_lm(tiny_bert, allow_new_head=True, device="cpu"), ["", "  "])
    with pytest.raises(ModelLoadError, match="has no masked-LM head"):
        evaluate_masked_lm(str(tiny_bert), TEXTS)
    with pytest.raises(InputError, match=r"mask probability = 1.5: expected a fraction in \(0, 1\)"):
        mask_tokens([[1, 5, 2]], vocab(), seed=0, probability=1.5)

