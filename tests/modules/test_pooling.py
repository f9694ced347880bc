"""Every pooling mode and layer choice against a hand-written numpy computation on a tiny random
BERT, with padding in the batch (texts of different lengths encoded together)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import twinbert
from twinbert.errors import InputError

TEXTS = ["the cat sat on the mat .", "i love paris", "", "a dog ran in the park and it is very happy !"]


@pytest.fixture(scope="module")
def encoder(tiny_bert):
    return twinbert.load(str(tiny_bert), device="cpu")


@pytest.fixture(scope="module")
def reference(tiny_bert):
    """Per-text hidden states (all layers) and pooler output from transformers, one text at a time."""
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(tiny_bert)).eval()
    tok = AutoTokenizer.from_pretrained(str(tiny_bert))
    refs = []
    for text in TEXTS:
        enc = tok(text, return_tensors="pt")
        with torch.no_grad():
            out = model(**enc, output_hidden_states=True)
        refs.append(([h[0].numpy().astype(np.float64) for h in out.hidden_states], out.pooler_output[0].numpy()))
    return refs


def np_pool(mode: str, h: np.ndarray) -> np.ndarray:
    n = h.shape[0]
    if mode == "cls":
        return h[0]
    if mode == "mean":
        return h.sum(0) / n
    if mode == "max":
        return h.max(0)
    if mode == "mean_sqrt_len":
        return h.sum(0) / np.sqrt(n)
    if mode == "weighted_mean":
        w = np.arange(1, n + 1, dtype=np.float64)
        return (h * w[:, None]).sum(0) / w.sum()
    if mode == "last_token":
        return h[-1]
    raise AssertionError(mode)


LAYER_CHOICES = [None, 0, 1, -2, [0, 2], "first-last", "1,2"]


def layer_states(hidden: list[np.ndarray], layers) -> np.ndarray:
    if layers is None:
        return hidden[-1]
    if layers == "first-last":
        return (hidden[1] + hidden[-1]) / 2
    if isinstance(layers, str):
        layers = [int(x) for x in layers.split(",")]
    if isinstance(layers, int):
        layers = [layers]
    return np.mean([hidden[k] for k in layers], axis=0)


@pytest.mark.parametrize("mode", ["cls", "mean", "max", "mean_sqrt_len", "weighted_mean", "last_token"])
@pytest.mark.parametrize("layers", LAYER_CHOICES)
def test_pooling_and_layers_match_numpy(encoder, reference, mode, layers):
    got = encoder.encode(TEXTS, pooling=mode, layers=layers, normalize=False)
    for i, (hidden, _) in enumerate(reference):
        expected = np_pool(mode, layer_states(hidden, layers))
        np.testing.assert_allclose(got[i], expected, atol=2e-5, rtol=1e-4)


def test_pooler_output(encoder, reference):
    got = encoder.encode(TEXTS, pooling="pooler")
    for i, (_, pooler) in enumerate(reference):
        np.testing.assert_allclose(got[i], pooler, atol=2e-5)


def test_concatenated_modes_and_normalize(encoder, reference):
    got = encoder.encode(TEXTS, pooling="cls+mean", normalize=True)
    for i, (hidden, _) in enumerate(reference):
        v = np.concatenate([np_pool("cls", hidden[-1]), np_pool("mean", hidden[-1])])
        np.testing.assert_allclose(got[i], v / np.linalg.norm(v), atol=2e-5)


def test_all_layers_output(encoder, reference):
    got = encoder.encode(TEXTS, output="all_layers", pooling="max")
    assert got.shape == (len(TEXTS), 3, 32)
    for i, (hidden, _) in enumerate(reference):
        for k, h in enumerate(hidden):
            np.testing.assert_allclose(got[i, k], h.max(0), atol=2e-5)


def test_token_output_unpadded(encoder, reference):
    got = encoder.encode(TEXTS, output="token", layers=0)
    for i, (hidden, _) in enumerate(reference):
        assert got[i].shape == hidden[0].shape
        np.testing.assert_allclose(got[i], hidden[0], atol=2e-5)


def test_torch_output_and_single_text(encoder):
    batch = encoder.encode(TEXTS, convert_to="torch")
    assert isinstance(batch, torch.Tensor) and batch.shape == (4, 32)
    single = encoder.encode(TEXTS[1])
    assert single.shape == (32,)
    np.testing.assert_allclose(single, batch[1].numpy(), atol=1e-6)
    assert encoder.encode([]).shape == (0, 32)


def test_truncation_is_counted_in_one_warning(encoder, caplog):
    long = " ".join(["cat"] * 200)
    with caplog.at_level("WARNING", logger="twinbert"):
        out = encoder.encode([long, long, "dog"])
    messages = [r.getMessage() for r in caplog.records if "truncated" in r.getMessage()]
    assert len(messages) == 1 and messages[0].startswith("2 of 3 texts")
    np.testing.assert_allclose(out[0], out[1])


@pytest.mark.parametrize("kwargs, fragment", [
    ({"pooling": "avg"}, "unknown pooling 'avg'"),
    ({"layers": 3}, "layer 3 does not exist"),
    ({"layers": -4}, "layer -4 does not exist"),
    ({"layers": "top"}, "unknown layers 'top'"),
    ({"pooling": "pooler", "layers": 1}, "last layer only"),
    ({"output": "words"}, "unknown output 'words'"),
    ({"precision": "int4"}, "unknown precision 'int4'"),
])
def test_bad_arguments(encoder, kwargs, fragment):
    with pytest.raises(InputError, match=fragment):
        encoder.encode(TEXTS, **kwargs)


def test_model_without_pooler(tmp_path):
    from conftest import build_tiny_bert

    enc = twinbert.load(str(build_tiny_bert(tmp_path / "nopool", with_pooler=False)))
    assert not enc.transformer.has_pooler
    with pytest.raises(InputError, match="no trained pooler"):
        enc.encode(["the cat"], pooling="pooler")
