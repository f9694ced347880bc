"""int8 encoding: QuantizedLinear against a numpy re-computation of the scheme, the swap-in and
cache on a tiny random BERT, and the real model's quality (per-sentence cosine and STS-B Spearman)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import twinbert
from conftest import stsb_sentences
from twinbert.errors import InputError
from twinbert.quantization import QuantizedLinear, int8_linears, quantized


def numpy_int8_linear(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The documented scheme, written independently: per-row activation and per-output-channel
    weight scales max|.|/127, round half to even, exact integer product, rescale, add bias."""
    sw = np.abs(w).max(axis=1) / 127
    qw = np.round(w / sw[:, None]).astype(np.int64)
    sx = np.abs(x).max(axis=1, keepdims=True) / 127
    qx = np.round(x / sx).astype(np.int64)
    return (qx @ qw.T) * sx * sw + b


def test_quantized_linear_matches_the_scheme_and_stays_close_to_float():
    torch.manual_seed(0)
    linear = nn.Linear(48, 20)
    x = torch.randn(2, 7, 48)
    got = QuantizedLinear(linear)(x)
    assert got.shape == (2, 7, 20)
    want = numpy_int8_linear(x.reshape(-1, 48).double().numpy(), linear.weight.detach().double().numpy(),
                             linear.bias.detach().double().numpy()).reshape(2, 7, 20)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)
    exact = linear(x).detach()
    assert (got - exact).abs().max() <= 0.02 * exact.abs().max()  # int8 error, a few per cent at most
    assert torch.equal(QuantizedLinear(nn.Linear(48, 20, bias=False))(torch.zeros(3, 48)), torch.zeros(3, 20))


def test_int8_encode_on_a_tiny_bert(tiny_bert):
    encoder = twinbert.load(str(tiny_bert), device="cpu")
    texts = ["the cat sat on the mat", "a dog", "", "stocks fell sharply after the report on monday"]
    fp32 = encoder.encode(texts)
    int8 = encoder.encode(texts, precision="int8")
    cos = (fp32 * int8).sum(1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(int8, axis=1)
    assert cos.min() > 0.98 and np.abs(fp32 - int8).max() > 0  # close, and really quantized
    np.testing.assert_array_equal(encoder.encode(texts), fp32)  # the float path is back after the block

    model = encoder.transformer.model
    table = quantized(model)
    names = set(table)
    assert names and all(".layer." in f".{n}" for n in names)
    assert not any("embeddings" in n or "pooler" in n for n in names)
    assert quantized(model) is table  # made once
    with torch.no_grad():
        next(m for n, m in model.named_modules() if n == sorted(names)[0]).weight.mul_(0.5)
    assert quantized(model) is not table  # remade when the weights change
    assert not np.allclose(encoder.encode(texts, precision="int8"), int8)

    loaded = twinbert.load(str(tiny_bert), device="cpu", precision="int8")
    assert loaded.settings()["precision"] == "int8" and loaded.dtype == torch.float32
    np.testing.assert_allclose(loaded.encode(texts), int8, atol=1e-6)
    with pytest.raises(InputError, match="int8"):
        twinbert.load(str(tiny_bert), device="cpu", precision="int4")


def test_int8_needs_encoder_layers():
    with pytest.raises(InputError, match="no Linear layers"):
        with int8_linears(nn.Sequential(nn.Linear(4, 4))):
            pass


def test_int8_quality_on_the_real_model(minilm):
    """Bounds measured on STS-B: per-sentence cosine to fp32 min 0.98+, mean 0.996+."""
    texts = stsb_sentences("test")[:400]
    fp32 = minilm.encode(texts)
    int8 = minilm.encode(texts, precision="int8")
    cos = (fp32 * int8).sum(1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(int8, axis=1)
    assert cos.min() >= 0.98
    assert cos.mean() >= 0.995
