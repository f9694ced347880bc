"""twinbert features / fill-mask / nsp on the command line: the output equals the library's, --json
prints one document, and bad input is one line with exit code 2. All cases run in one child process."""
from __future__ import annotations

import json

import numpy as np
import pytest
from cli_runner import cli_env, run_cli_batch
from conftest import build_tiny_bert

import twinbert
from twinbert.bert import features, fill_mask, load_masked_lm, load_next_sentence, next_sentence

MASKED = "soccer is a really fun [MASK] ."
TWO_MASKS = "the [MASK] sat on the [MASK] ."


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp("bertcli")
    return {head: build_tiny_bert(root / head, head=head, seed=11)
            for head in ("BertForPreTraining", "BertForMaskedLM", "BertModel")}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("bertcli-run")


@pytest.fixture(scope="module")
def cli(ckpts, work, tiny_bert):
    pre, mlm, bare = (str(ckpts[h]) for h in ("BertForPreTraining", "BertForMaskedLM", "BertModel"))
    cases = {
        "features_minilm": ["features", "I love Paris", "the cat", "--pad-to", "7", "--save", str(work / "f.npz"),
                            "--json", "--device", "cpu"],
        "features_text": ["features", "--model", str(tiny_bert), "i love paris", "--pair", "the cat",
                          "--layers", "0,-1"],
        "features_short": ["features", "--model", str(tiny_bert), "the cat sat on the mat", "--pad-to", "3"],
        "features_bad_save": ["features", "--model", str(tiny_bert), "a", "--save", str(work / "nope" / "f.npz")],
        "fill_json": ["fill-mask", pre, MASKED, "--top-k", "3", "--json"],
        "fill_two_json": ["fill-mask", pre, TWO_MASKS, "--json"],
        "fill_many_json": ["fill-mask", pre, MASKED, TWO_MASKS, "--top-k", "2", "--json"],
        "fill_text": ["fill-mask", pre, TWO_MASKS, "--top-k", "2"],
        "fill_no_mask": ["fill-mask", pre, "i love paris"],
        "fill_no_head": ["fill-mask", bare, MASKED],
        "fill_top_k": ["fill-mask", pre, MASKED, "--top-k", "0"],
        "nsp_json": ["nsp", pre, "the cat sat on the mat .", "it is happy .", "--json"],
        "nsp_text": ["nsp", pre, "the cat sat", "it ran"],
        "nsp_no_head": ["nsp", mlm, "a", "b"],
    }
    return run_cli_batch(cases, work, cli_env(work / "hf"))


def error_line(result) -> str:
    assert result["rc"] == 2 and result["stdout"] == ""
    lines = result["stderr"].strip().splitlines()
    assert len(lines) == 1, result["stderr"]
    return lines[0]


def test_features(cli, minilm, work, tiny_bert):
    r = cli["features_minilm"]
    assert r["rc"] == 0, r["stderr"]
    doc = json.loads(r["stdout"])
    f = features(minilm, ["I love Paris", "the cat"], pad_to=7)
    assert doc["tokens"] == f.tokens and doc["tokens"][1][-3:] == ["[PAD]"] * 3
    assert doc["attention_mask"] == [[1] * 5 + [0] * 2, [1] * 4 + [0] * 3]
    assert doc["hidden_states_shape"] == [2, 7, 7, 384] and doc["layers"] == list(range(7))
    np.testing.assert_allclose(doc["cls"], f.cls, atol=1e-5)
    with np.load(work / "f.npz", allow_pickle=False) as z:
        np.testing.assert_allclose(z["hidden_states"], f.hidden_states, atol=1e-5)
        np.testing.assert_allclose(z["pooler_output"], f.pooler_output, atol=1e-5)

    text = cli["features_text"]["stdout"]
    assert cli["features_text"]["rc"] == 0
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.startswith("  ")}
    assert rows["tokens"] == ["[CLS]", "i", "love", "paris", "[SEP]", "the", "cat", "[SEP]"]
    assert rows["token_type_ids"] == ["0"] * 5 + ["1"] * 3 and rows["attention_mask"] == ["1"] * 8
    assert "[CLS] (last layer)" in text and "pooler_output" in text
    assert "embeddings" in text and "layer 2" in text and "layer 1 " not in text
    assert error_line(cli["features_short"]).startswith(
        "twinbert features: error: pad_to=3 is shorter than texts[0], which has 8 tokens")
    assert "nope" in error_line(cli["features_bad_save"])


def test_fill_mask(cli, ckpts):
    model = load_masked_lm(ckpts["BertForPreTraining"], device="cpu")
    single = json.loads(cli["fill_json"]["stdout"])
    expected = fill_mask(model, MASKED, top_k=3)
    assert len(single) == 1 and len(single[0]) == 3  # one list per mask
    for got, want in zip(single[0], expected[0]):
        assert (got["token"], got["token_id"], got["sequence"]) == (want["token"], want["token_id"], want["sequence"])
        assert got["score"] == pytest.approx(want["score"], abs=1e-6)
    two = json.loads(cli["fill_two_json"]["stdout"])
    assert len(two) == 2 and all(len(m) == 5 for m in two)
    many = json.loads(cli["fill_many_json"]["stdout"])
    assert [d["text"] for d in many] == [MASKED, TWO_MASKS]
    assert [len(d["masks"]) for d in many] == [1, 2] and len(many[1]["masks"][1]) == 2
    assert [e["token_id"] for e in many[1]["masks"][0]] == [e["token_id"] for e in two[0][:2]]

    text = cli["fill_text"]["stdout"]
    assert text.startswith(TWO_MASKS) and "mask 1 of 2" in text and "mask 2 of 2" in text and "rank" in text
    assert error_line(cli["fill_no_mask"]) == ("twinbert fill-mask: error: texts[0] 'i love paris' has no mask "
                                               "token: write [MASK] where a token should be predicted")
    assert error_line(cli["fill_no_head"]) == (
        f"twinbert fill-mask: error: model {ckpts['BertModel']} has no masked-LM head (cls.predictions.* "
        "missing): use a BertForMaskedLM or BertForPreTraining checkpoint")
    assert "top_k must be a positive integer" in error_line(cli["fill_top_k"])


def test_nsp(cli, ckpts):
    model = load_next_sentence(ckpts["BertForPreTraining"], device="cpu")
    doc = json.loads(cli["nsp_json"]["stdout"])
    want = next_sentence(model, "the cat sat on the mat .", "it is happy .")
    assert set(doc) == {"is_next", "not_next"}
    assert doc["is_next"] == pytest.approx(want["is_next"], abs=1e-6)
    assert doc["not_next"] == pytest.approx(1 - doc["is_next"], abs=1e-12)
    assert cli["nsp_text"]["stdout"].startswith("is_next   0.")
    assert error_line(cli["nsp_no_head"]) == (
        f"twinbert nsp: error: model {ckpts['BertForMaskedLM']} has no next-sentence head (cls.seq_relationship.*, "
        "bert.pooler.dense.* missing): use a BertForNextSentencePrediction or BertForPreTraining checkpoint")


def test_library_exports():
    import twinbert.bert as bert
    assert set(bert.__all__) >= {"features", "fill_mask", "next_sentence", "load_masked_lm", "load_next_sentence"}
    assert twinbert.bert is bert
