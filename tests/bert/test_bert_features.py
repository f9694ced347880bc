"""twinbert.bert.features: tokens, ids, masks, [CLS], pooler_output and every hidden state, checked
against transformers' own outputs (tiny random BERTs and the real default model)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import transformers
from conftest import build_tiny_bert

import twinbert
from twinbert.bert import Features, features
from twinbert.errors import InputError

TEXTS = ["i love paris", "the cat sat on the mat .", "soccer is fun"]
PAIRS = ["it is good", "a dog", "the game is very fun !"]


@pytest.fixture(scope="module")
def tiny(tiny_bert):
    return twinbert.load(str(tiny_bert), device="cpu")


@pytest.fixture(scope="module")
def reference(tiny_bert):
    return (transformers.AutoModel.from_pretrained(str(tiny_bert)).eval(),
            transformers.AutoTokenizer.from_pretrained(str(tiny_bert)))


def transformers_outputs(model, tokenizer, texts, pairs=None, width=None):
    padding = {"padding": "max_length", "max_length": width} if width else {"padding": True}
    batch = tokenizer(texts, pairs, return_tensors="pt", **padding)
    with torch.inference_mode():
        out = model(**batch, output_hidden_states=True)
    return batch, out


def test_every_layer_and_padding_match_transformers(tiny, reference):
    f = features(tiny, TEXTS, pad_to=12)
    batch, out = transformers_outputs(*reference, TEXTS, width=12)
    assert f.input_ids.shape == (3, 12) and f.hidden_states.shape == (3, 3, 12, 32)
    np.testing.assert_array_equal(f.input_ids, batch["input_ids"].numpy())
    np.testing.assert_array_equal(f.attention_mask, batch["attention_mask"].numpy())
    np.testing.assert_array_equal(f.token_type_ids, batch["token_type_ids"].numpy())
    assert f.layers == [0, 1, 2]
    for k, h in enumerate(out.hidden_states):  # padding positions included
        np.testing.assert_allclose(f.hidden_states[:, k], h.numpy(), atol=1e-5)
    np.testing.assert_allclose(f.cls, out.last_hidden_state[:, 0].numpy(), atol=1e-5)
    np.testing.assert_allclose(f.pooler_output, out.pooler_output.numpy(), atol=1e-5)
    assert f.tokens[0] == ["[CLS]", "i", "love", "paris", "[SEP]"] + ["[PAD]"] * 7
    assert f.attention_mask[0].tolist() == [1] * 5 + [0] * 7


def test_pairs_and_default_width(tiny, reference):
    f = features(tiny, TEXTS, PAIRS)
    batch, out = transformers_outputs(*reference, TEXTS, PAIRS)
    np.testing.assert_array_equal(f.token_type_ids, batch["token_type_ids"].numpy())
    np.testing.assert_array_equal(f.attention_mask, batch["attention_mask"].numpy())
    assert f.token_type_ids[1].tolist() == [0] * 9 + [1] * 3
    assert f.tokens[1][:9] == ["[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]"]
    np.testing.assert_allclose(f.hidden_states[:, -1], out.last_hidden_state.numpy(), atol=1e-5)
    assert f.pairs == PAIRS


def test_one_text_chosen_layers_and_small_batches(tiny, reference):
    one = features(tiny, "i love paris", layers="last")
    assert one.texts == ["i love paris"] and one.layers == [2] and one.hidden_states.shape == (1, 1, 5, 32)
    picked = features(tiny, TEXTS, layers="0,-1", pad_to=10)
    assert picked.layers == [0, 2]
    full = features(tiny, TEXTS, pad_to=10, batch_tokens=10)  # one row per batch
    np.testing.assert_allclose(picked.hidden_states, full.hidden_states[:, [0, 2]], atol=1e-6)
    assert features(tiny, TEXTS, layers=[1]).layers == [1]
    np.testing.assert_allclose(one.cls, picked.cls[:1], atol=1e-5)


def test_no_pooler_gives_none(tmp_path):
    folder = build_tiny_bert(tmp_path / "nopool", with_pooler=False, seed=2)
    f = features(str(folder), ["the cat"])
    assert f.pooler_output is None
    assert f.to_dict()["pooler_output"] is None


def test_save_npz_and_json(tiny, tmp_path):
    f = features(tiny, TEXTS, PAIRS, pad_to=20)
    path = f.save(tmp_path / "out.npz")
    with np.load(path, allow_pickle=False) as z:
        assert z["tokens"].tolist() == f.tokens and z["texts"].tolist() == TEXTS and z["pairs"].tolist() == PAIRS
        np.testing.assert_array_equal(z["hidden_states"], f.hidden_states)
        np.testing.assert_array_equal(z["pooler_output"], f.pooler_output)
        assert z["layers"].tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["out.npz"]  # no temp file left behind
    doc = json.loads(json.dumps(f.to_dict()))
    assert doc["hidden_states_shape"] == [3, 3, 20, 32] and "hidden_states" not in doc
    assert len(json.loads(json.dumps(f.to_dict(hidden_states=True)))["hidden_states"][0]) == 3
    assert isinstance(f, Features)


@pytest.mark.parametrize("kwargs, message", [
    ({"pad_to": 3}, "pad_to=3 is shorter than texts[1], which has 9 tokens"),
    ({"pad_to": 65}, "exceeds the model's max_seq_length of 64"),
    ({"pad_to": 0}, "pad_to must be a positive"),
    ({"layers": "3"}, "layer 3 does not exist: this model has hidden states 0..2"),
    ({"layers": "middle"}, "unknown layers 'middle'"),
    ({"pairs": ["one"]}, "got 1 pair texts for 3 texts"),
])
def test_bad_arguments(tiny, kwargs, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace("[", r"\[")):
        features(tiny, TEXTS, **kwargs)


def test_bad_texts(tiny):
    with pytest.raises(InputError, match="texts is empty"):
        features(tiny, [])
    with pytest.raises(InputError, match=r"texts\[1\] is int"):
        features(tiny, ["a", 3])


def test_default_model_matches_transformers(minilm, minilm_path):
    texts = ["I love Paris.", "A man is playing a guitar in the park."]
    f = features(minilm, texts, pad_to=16)
    model = transformers.AutoModel.from_pretrained(str(minilm_path)).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(minilm_path))
    batch, out = transformers_outputs(model, tokenizer, texts, width=16)
    np.testing.assert_array_equal(f.input_ids, batch["input_ids"].numpy())
    assert f.hidden_states.shape == (2, 7, 16, 384)
    # the default backend (ONNX Runtime) fuses the attention: unnormalized hidden states agree to float32
    # rounding of their size (values up to ~10), the sentence vectors to 1e-5 (test_parity_minilm.py)
    for k, h in enumerate(out.hidden_states):
        np.testing.assert_allclose(f.hidden_states[:, k], h.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(f.pooler_output, out.pooler_output.numpy(), rtol=1e-4, atol=1e-5)
