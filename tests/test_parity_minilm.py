"""The real all-MiniLM-L6-v2: twinbert equals sentence-transformers and transformers on the same weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import stsb_sentences


@pytest.fixture(scope="module")
def sentences():
    return stsb_sentences("test")[:1200]


def test_embeddings_equal_sentence_transformers(minilm, st_minilm, sentences):
    assert len(sentences) >= 1000
    ours = minilm.encode(sentences)
    theirs = st_minilm.encode(sentences, batch_size=32, convert_to_numpy=True)
    assert ours.shape == theirs.shape == (len(sentences), 384)
    assert np.abs(ours - theirs).max() <= 1e-5


def test_batch_budget_does_not_change_results(minilm, sentences):
    a = minilm.encode(sentences[:120], batch_tokens=256)
    b = minilm.encode(sentences[:120], batch_tokens=16384)
    assert np.abs(a - b).max() <= 1e-5


def test_hidden_states_and_pooler_equal_transformers(minilm, minilm_path, sentences):
    from transformers import AutoModel, AutoTokenizer

    texts = sentences[:40] + ["", "a " * 400]  # an empty text and one longer than max_seq_length
    model = AutoModel.from_pretrained(str(minilm_path)).eval()
    tok = AutoTokenizer.from_pretrained(str(minilm_path))
    layers = minilm.encode(texts, output="all_layers", pooling="cls", normalize=False)
    tokens_last = minilm.encode(texts, output="token", normalize=False)
    tokens_l3 = minilm.encode(texts, output="token", layers=3)
    pooler = minilm.encode(texts, pooling="pooler", normalize=False)
    for i, text in enumerate(texts):
        enc = tok(text, return_tensors="pt", truncation=True, max_length=256)
        with torch.no_grad():
            out = model(**enc, output_hidden_states=True)
        hs = [h[0].numpy() for h in out.hidden_states]
        assert len(hs) == layers.shape[1] == 7
        for k, h in enumerate(hs):  # the [CLS] state of every layer
            np.testing.assert_allclose(layers[i, k], h[0], atol=1e-5)
        np.testing.assert_allclose(tokens_last[i], hs[-1], atol=1e-5)
        np.testing.assert_allclose(tokens_l3[i], hs[3], atol=1e-5)
        np.testing.assert_allclose(pooler[i], out.pooler_output[0].numpy(), atol=1e-5)


def test_stsb_pair_similarity_order_restored(minilm, st_minilm):
    texts = ["short", "a considerably longer sentence with many more tokens in it", "", "mid length text"]
    ours = minilm.encode(texts)
    for k, t in enumerate(texts):
        assert np.abs(ours[k] - minilm.encode(t)).max() <= 1e-5
    assert np.abs(ours - st_minilm.encode(texts)).max() <= 1e-5


def test_bfloat16_close_to_float32(minilm, sentences):
    """bf16 compute: per-sentence cosine to fp32 stays high (bound measured: min ~0.996 on STS-B)."""
    texts = sentences[:300]
    fp32 = minilm.encode(texts)
    bf16 = minilm.encode(texts, precision="bfloat16")
    cos = (fp32 * bf16).sum(1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(bf16, axis=1)
    assert cos.min() >= 0.99
    assert cos.mean() >= 0.998
