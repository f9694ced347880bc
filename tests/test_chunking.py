"""The chunker (spans, limits, sentence ends in several scripts) and the two chunked encodings, checked
against transformers run directly: `chunks` against encode() of each passage, `late` against one full
forward of each window pooled by hand."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import twinbert
from twinbert.chunking import chunk_tokens_of, sentence_starts
from twinbert.chunking.embed import windows_of
from twinbert.errors import InputError


def word_offsets(text: str) -> list[tuple[int, int]]:
    """One token per run of non-space characters: a stand-in tokenizer with known offsets."""
    return [m.span() for m in re.finditer(r"\S+", text)]


def test_sentence_ends_in_english_korean_and_cjk():
    text = "It costs 3.14 dollars. Really? 첫 문장이다. 둘째 문장이에요. 셋째!\n줄바꿈 뒤 문장 今日は晴れ。明日は雨。"
    starts = sentence_starts(text)
    begins = [text[s:s + 3] for s in starts]
    assert begins == ["Rea", "첫 문", "둘째 ", "셋째!", "줄바꿈", "明日は"]
    assert "3.1" not in [text[s - 1:s + 2] for s in starts]  # a decimal point ends nothing


def test_quote_after_a_sentence_end_stays_with_its_sentence():
    text = '그는 "좋다." 라고 말했다. 다음 문장.'
    assert [text[s:] for s in sentence_starts(text)] == ["라고 말했다. 다음 문장.", "다음 문장."]


KOREAN = " ".join(f"문장 {i} 은 여기에서 끝난다." if i % 3 else f"질문 {i} 이 맞나요?" for i in range(60))


@pytest.mark.parametrize("chunk_tokens,overlap", [(16, 0), (16, 4), (25, 8), (7, 3)])
def test_chunks_cover_the_text_within_the_limit(chunk_tokens, overlap):
    offsets = word_offsets(KOREAN)
    chunks = chunk_tokens_of(KOREAN, offsets, chunk_tokens, overlap)
    covered = np.zeros(len(KOREAN), bool)
    for before, c in zip([None, *chunks], chunks):
        assert 0 < c.last - c.first <= chunk_tokens
        assert (c.start, c.end) == (offsets[c.first][0], offsets[c.last - 1][1])
        covered[c.start:c.end] = True
        if before is not None:
            assert before.first < c.first <= before.last  # forward, never a gap
            assert before.last - c.first <= overlap
    assert chunks[0].first == 0 and chunks[-1].last == len(offsets)
    assert covered[[i for i, ch in enumerate(KOREAN) if not ch.isspace()]].all()


def test_chunks_end_at_korean_sentence_ends_when_one_is_in_reach():
    offsets = word_offsets(KOREAN)
    chunks = chunk_tokens_of(KOREAN, offsets, 16, 4)
    for c in chunks[:-1]:  # every sentence is 5 words: a sentence end always lies in the back half
        assert KOREAN[:c.end].endswith(("다.", "요?")), KOREAN[c.start:c.end]
    starts = set(sentence_starts(KOREAN))
    assert all(c.start in starts for c in chunks[1:])  # overlaps start at a sentence too


def test_sentencepiece_tokens_that_take_the_space_before_them_still_cut_at_sentence_ends():
    # XLM-R / e5's "▁word" tokens report the space (or line break) before the word as theirs
    offsets = [(s - 1 if s else s, e) for s, e in word_offsets(KOREAN)]
    chunks = chunk_tokens_of(KOREAN, offsets, 16, 4)
    starts = set(sentence_starts(KOREAN))
    for c in chunks[:-1]:
        assert KOREAN[:c.end].endswith(("다.", "요?")), KOREAN[c.start:c.end]
    assert all(c.start in starts for c in chunks[1:])  # the passage starts at the word, not at the space


def test_a_text_without_sentence_ends_is_cut_at_words_and_a_long_word_anywhere():
    text = "단어 " * 30
    chunks = chunk_tokens_of(text, word_offsets(text), 8, 2)
    assert all(c.last - c.first <= 8 for c in chunks) and chunks[-1].last == 30
    word = "가" * 50
    offsets = [(i, i + 1) for i in range(50)]  # one token a character, no word start inside
    chunks = chunk_tokens_of(word, offsets, 8, 0)
    assert [(c.start, c.end) for c in chunks[:2]] == [(0, 8), (8, 16)]


def test_empty_text_has_one_empty_chunk():
    assert [(c.start, c.end) for c in chunk_tokens_of("", [], 8, 2)] == [(0, 0)]


def test_windows_see_each_chunk_with_the_most_context():
    class C:
        def __init__(self, first, last):
            self.first, self.last = first, last

    chunks = [C(0, 10), C(40, 50), C(90, 100)]
    starts, chosen = windows_of(100, 40, chunks)
    assert starts == [0, 20, 40, 60]  # half a window apart
    assert [starts[j] for j in chosen] == [0, 20, 60]  # (40, 50): 10 tokens of context in 20, none in 40
    assert windows_of(30, 40, chunks[:1]) == ([0], [0])


# ----------------------------------------------------------------- encodings against transformers

SENTENCES = ["the cat sat on the mat.", "i love paris!", "the dog ran in the park.", "it is very good.",
             "a man and a woman play music?", "the food is bad."]
DOCUMENT = " ".join(SENTENCES * 4)  # ~100 tokens: longer than the tiny model's 64-position table


@pytest.fixture(scope="module")
def tiny(tiny_bert):
    return twinbert.load(tiny_bert, device="cpu", backend="torch")


@pytest.fixture(scope="module")
def reference(tiny_bert):
    """Last hidden states of a row of ids, from transformers' BertModel itself."""
    from transformers import BertModel

    model = BertModel.from_pretrained(str(tiny_bert), add_pooling_layer=False).eval()

    def states(ids: list[int]) -> torch.Tensor:
        with torch.no_grad():
            return model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long)
                         ).last_hidden_state[0]
    return states


def test_chunks_are_encoded_as_encode_encodes_each_passage(tiny):
    texts = [DOCUMENT, "the cat sat."]
    result = tiny.encode(texts, chunking="chunks", chunk_tokens=20, overlap=5)
    assert result.document.tolist() == sorted(result.document.tolist()) and set(result.document.tolist()) == {0, 1}
    expected = tiny.encode(result.passages(texts))
    np.testing.assert_allclose(result.vectors, expected, atol=1e-5)
    assert result.chunking == {"method": "chunks", "chunk_tokens": 20, "overlap": 5}


def test_late_chunking_of_a_text_in_one_window_pools_one_forward(tiny, reference):
    text = " ".join(SENTENCES[:3])
    result = tiny.encode([text], chunking="late", chunk_tokens=6, overlap=0)
    ids, offsets = tiny.transformer.pieces_with_offsets([text])[0]
    states = reference([tiny.tokenizer.cls_token_id, *ids, tiny.tokenizer.sep_token_id])
    assert len(result) > 2
    for vector, (start, end) in zip(result.vectors, result.spans.tolist()):
        tokens = [k for k, (s, e) in enumerate(offsets) if s >= start and e <= end]
        np.testing.assert_allclose(vector, states[[1 + k for k in tokens]].mean(0).numpy(), atol=1e-5)


def test_late_chunking_of_a_long_text_pools_each_chunk_from_a_window_that_sees_it_well(tiny, reference):
    result = tiny.encode([DOCUMENT], chunking="late", chunk_tokens=10, overlap=2)
    ids, offsets = tiny.transformer.pieces_with_offsets([DOCUMENT])[0]
    width = 64 - 2  # the position table less [CLS] and [SEP]
    assert len(ids) > width + 20
    frame = [tiny.tokenizer.cls_token_id], [tiny.tokenizer.sep_token_id]
    windows: dict[int, torch.Tensor] = {}  # window start -> its token states, computed when first needed
    for vector, (start, end) in zip(result.vectors, result.spans.tolist()):
        tokens = [k for k, (s, e) in enumerate(offsets) if s >= start and e <= end]
        first, last = tokens[0], tokens[-1] + 1
        context = {w: min(first - w, w + width - last) for w in range(len(ids) - width + 1)
                   if w <= first and last <= w + width}
        best = max(context.values())
        # a window no more than a quarter window short of the best context (windows are half a window apart)
        for w in sorted((w for w, room in context.items() if room >= best - width // 4), key=lambda w: -context[w]):
            if w not in windows:
                windows[w] = reference(frame[0] + ids[w:w + width] + frame[1])
            if np.allclose(vector, windows[w][1 + first - w:1 + last - w].mean(0).numpy(), atol=1e-5):
                break
        else:
            pytest.fail(f"chunk {start}:{end} matches no window that sees it well")
    assert len(result) > 6


def test_late_chunks_see_their_neighbours_and_chunks_do_not(tiny):
    text = " ".join(SENTENCES[:3])
    alone = tiny.encode([SENTENCES[0]], chunking="late").vectors[0]
    late = tiny.encode([text], chunking="late", chunk_tokens=8, overlap=0)
    chunks = tiny.encode([text], chunking="chunks", chunk_tokens=8, overlap=0)
    assert late.passages([text])[0] == SENTENCES[0] == chunks.passages([text])[0]
    assert not np.allclose(late.vectors[0], alone, atol=1e-4)  # context changed the vector


def test_chunking_arguments_are_checked(tiny):
    with pytest.raises(InputError, match="chunk_tokens=100 is more than"):
        tiny.encode(["a"], chunking="chunks", chunk_tokens=100)
    with pytest.raises(InputError, match="overlap=9"):
        tiny.encode(["a"], chunking="late", chunk_tokens=16, overlap=9)
    with pytest.raises(InputError, match="chunking"):
        tiny.encode(["a"], chunking="paragraphs")
    with pytest.raises(InputError, match="give chunking too"):
        tiny.encode(["a"], chunk_tokens=16)
