"""Compressed embeddings: the same codes as sentence-transformers' quantize_embeddings, Matryoshka
truncation as sentence-transformers does it, and search over int8 / binary codes with float re-scoring."""
from __future__ import annotations

import numpy as np
import pytest

import twinbert
from twinbert.errors import InputError
from twinbert.quantize import bytes_per_vector, calibration_ranges, dequantize, quantize
from twinbert.search import semantic_search
from twinbert.search.compressed import compressed_search

st_quantization = pytest.importorskip("sentence_transformers.quantization")


def clustered(n=3000, dim=64, clusters=40, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(0).standard_normal((clusters, dim)).astype(np.float32)  # shared by all seeds
    x = centers[rng.integers(0, clusters, n)] + 0.35 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "binary", "ubinary", "float32"])
def test_codes_equal_sentence_transformers(dtype):
    corpus, calibration = clustered(500, seed=1), clustered(2000, seed=2)
    ranges = calibration_ranges(calibration)
    ours = quantize(corpus, dtype, ranges)
    theirs = st_quantization.quantize_embeddings(corpus, dtype, calibration_embeddings=calibration)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)
    # without ranges both calibrate on the vectors themselves
    np.testing.assert_array_equal(quantize(corpus, dtype), st_quantization.quantize_embeddings(corpus, dtype))


def test_a_hand_computed_int8_case():
    x = np.array([[0.0, 10.7], [255.0, -3.0], [300.0, -300.0]], np.float32)
    ranges = np.array([[0.0, -255.0], [255.0, 255.0]], np.float32)  # steps 1 and 2; row 3 is out of range
    np.testing.assert_array_equal(quantize(x, "uint8", ranges), [[0, 132], [255, 126], [255, 0]])
    np.testing.assert_array_equal(quantize(x, "int8", ranges), [[-128, 4], [127, -2], [127, -128]])
    np.testing.assert_array_equal(quantize(np.array([[0.2, -0.1, 0, 3, -2, 1, 1, -1, 5]], np.float32), "ubinary"),
                                  [[0b10010110, 0b10000000]])
    back = dequantize(quantize(x[:2], "int8", ranges), "int8", ranges)
    assert np.abs(back - x[:2]).max() <= 1.0 + 1e-6  # within one step


def test_bytes_per_vector():
    assert [bytes_per_vector(d, 384) for d in ("float32", "float16", "int8", "binary")] == [1536, 768, 384, 48]


def test_encode_output_dtype_and_truncate_dim_match_sentence_transformers(minilm, st_minilm):
    texts = ["A man is playing a guitar.", "Someone plays an instrument.", "The stock market fell.",
             "A woman slices a tomato.", "Stocks dropped sharply today."]
    ranges = calibration_ranges(minilm.encode(texts * 30 + ["a", "b c", "guitar music"]))
    ours = minilm.encode(texts, output_dtype="int8", ranges=ranges)
    theirs = st_minilm.encode(texts, precision="int8")  # calibrates on its own output
    np.testing.assert_array_equal(ours, st_quantization.quantize_embeddings(minilm.encode(texts), "int8", ranges=ranges))
    # self-calibrated: the row holding a dimension's max sits on the floor at 255.0; the two models' floats
    # differ by ~1e-7, so that edge level may differ by one step, and nothing else
    own = minilm.encode(texts, output_dtype="int8").astype(int)
    assert np.abs(own - theirs).max() <= 1 and np.mean(own == theirs) > 0.9
    np.testing.assert_array_equal(minilm.encode(texts, output_dtype="ubinary"), st_minilm.encode(texts, precision="ubinary"))
    cut = minilm.encode(texts, truncate_dim=128)
    np.testing.assert_allclose(cut, st_minilm.encode(texts, truncate_dim=128, normalize_embeddings=True), atol=1e-5)
    assert cut.shape == (5, 128) and minilm.settings(truncate_dim=128)["dimension"] == 128
    with pytest.raises(InputError, match="truncate_dim must be an integer in 1..384") as bad:
        minilm.encode(texts, truncate_dim=0)
    assert bad.value.argument == "truncate_dim"
    with pytest.raises(InputError, match="unknown output_dtype 'int4'"):
        minilm.encode(texts, output_dtype="int4")
    with pytest.raises(InputError, match="output_dtype apply to sentence vectors"):
        minilm.encode(texts, output="token", output_dtype="int8")


@pytest.mark.parametrize("dtype,floor", [("int8", 0.99), ("binary", 0.95)])
def test_compressed_search_recall_with_rescoring(dtype, floor):
    corpus, queries = clustered(4000, dim=128, seed=3), clustered(60, dim=128, seed=4)
    truth = [[i for i, _ in row] for row in semantic_search(queries, corpus, top_k=10)]
    ranges = calibration_ranges(corpus[:1000])
    codes = quantize(corpus, dtype, ranges)
    found = compressed_search(queries, codes, dtype, ranges=ranges, originals=corpus, top_k=10)
    recall = np.mean([len({i for i, _ in f} & set(t)) / 10 for f, t in zip(found, truth)])
    assert recall >= floor
    assert codes.nbytes * (4 if dtype == "int8" else 32) == corpus.nbytes
    exact = [[s for _, s in row] for row in semantic_search(queries[:3], corpus, top_k=1)]
    assert found[0][0][1] == pytest.approx(exact[0][0], abs=1e-5)  # re-scored with the float vectors


def test_int8_search_needs_its_ranges():
    with pytest.raises(InputError, match="needs the ranges"):
        compressed_search(clustered(2), quantize(clustered(10), "int8"), "int8")
    with pytest.raises(InputError, match=r"ranges must be a finite \[2, 64\]"):
        quantize(clustered(10), "int8", np.zeros((3, 64)))
    assert twinbert  # the package imports the quantize module lazily through encode
