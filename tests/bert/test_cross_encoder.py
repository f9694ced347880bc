"""Cross-encoder: one-score and classification heads, parity with transformers, reranking, bad input, CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from twinbert.bert import CrossEncoder, train_cross_encoder
from twinbert.bert.cross_encoder import pair_targets
from twinbert.data import Dataset, PairExample
from twinbert.errors import InputError, ModelLoadError
from twinbert.train.loop import TrainConfig

PAIRS = [("the cat sat on the mat", "a cat sat on a mat", 4.8), ("i love paris", "i love paris", 5.0),
         ("the dog ran in the park", "a dog ran in a park", 4.2), ("a man is playing guitar", "a man plays music", 3.6),
         ("the cat is happy", "soccer is fun", 0.4), ("i love food", "the duck is rubber", 0.0),
         ("a woman is sad", "the game is very good", 0.6), ("the table is bad", "a dog sat in the park", 1.0)]
NLI = [("the cat sat", "a cat sat", "entailment"), ("the dog ran", "the dog sat", "contradiction"),
       ("a man is happy", "a man plays music", "neutral"), ("i love paris", "i love paris", "entailment"),
       ("the game is good", "the game is bad", "contradiction"), ("a woman sat", "a woman sat in the park", "neutral")]


def sts(pairs=PAIRS, path="sts.tsv") -> Dataset:
    return Dataset("toy-sts", "train", Path(path), [PairExample(a, b, s) for a, b, s in pairs], (0.0, 5.0), None, [],
                   "sts")


def nli() -> Dataset:
    labels = ["entailment", "neutral", "contradiction"]
    return Dataset("toy-nli", "train", Path("nli.tsv"), [PairExample(a, b, None, lab) for a, b, lab in NLI], None,
                   labels, [], "nli")


@pytest.fixture(scope="module")
def scorer(tmp_path_factory, tiny_bert):
    out = tmp_path_factory.mktemp("ce") / "model"
    config = TrainConfig(epochs=20, batch_size=8, lr=1e-2, warmup=0.0, log_every=1, seed=1)
    result = train_cross_encoder(str(tiny_bert), sts(), config, out, device="cpu", show_progress=False)
    return out, result


def test_loss_falls_and_folder_is_a_cross_encoder(scorer):
    out, result = scorer
    losses = [json.loads(r)["loss"] for r in (out / "train_log.jsonl").read_text().splitlines() if '"train"' in r]
    assert len(losses) == result.steps == 20
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.05  # BCE against soft targets cannot reach 0
    config = json.loads((out / "config.json").read_text())
    assert config["twinbert"] == {"base_model": config["twinbert"]["base_model"], "kind": "cross-encoder",
                                  "loss": "bce", "score_range": [0.0, 5.0]}
    assert config["sentence_transformers"] == {"activation_fn": "torch.nn.modules.activation.Sigmoid"}
    ce = CrossEncoder.load(out, device="cpu")
    assert ce.regression and ce.evaluate(sts())["spearman"] > 0.5


def test_scores_match_transformers_run_directly(scorer):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out, _ = scorer
    ce = CrossEncoder.load(out, device="cpu")
    a, b = [p[0] for p in PAIRS], [p[1] for p in PAIRS]
    ours = ce.predict(list(zip(a, b)), batch_tokens=40)  # several length-sorted batches
    assert ours.shape == (len(PAIRS),)
    np.testing.assert_allclose(ours, ce.predict(a, b), atol=1e-6)  # other batches: other padding
    model = AutoModelForSequenceClassification.from_pretrained(str(out)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    with torch.no_grad():
        direct = torch.sigmoid(model(**tokenizer(a, b, padding=True, return_tensors="pt")).logits[:, 0]).numpy()
    np.testing.assert_allclose(ours, direct, atol=1e-5)


def test_rerank_texts_and_search_hits(scorer, tiny_bert):
    import twinbert

    ce = CrossEncoder.load(scorer[0], device="cpu")
    corpus = ["a cat sat on a mat", "soccer is fun", "the duck is rubber", "the cat sat on the mat"]
    ranked = ce.rerank("the cat sat on the mat", corpus, top_k=3)
    assert [h["rank"] for h in ranked] == [1, 2, 3]
    assert [h["score"] for h in ranked] == sorted((h["score"] for h in ranked), reverse=True)
    assert all(corpus[h["index"]] == h["text"] for h in ranked)
    encoder = twinbert.load(str(tiny_bert), device="cpu")
    hits = twinbert.semantic_search(encoder.encode(["the cat"]), encoder.encode(corpus), top_k=3)[0]
    reranked = ce.rerank("the cat", hits, corpus=corpus)
    assert sorted(h["index"] for h in reranked) == sorted(i for i, _ in hits)
    assert {h["index"]: h["first_stage_score"] for h in reranked} == pytest.approx(dict(hits))
    index_hits = [{"id": "d1", "text": "a cat sat", "score": 0.5, "rank": 1},
                  {"id": "d2", "text": "soccer", "score": 0.4, "rank": 2}]
    assert {h["id"] for h in ce.rerank("the cat", index_hits)} == {"d1", "d2"}
    with pytest.raises(InputError, match="pass corpus= the corpus texts"):
        ce.rerank("the cat", hits)
    with pytest.raises(InputError, match="label 'entailment': this cross-encoder gives one score"):
        ce.rerank("the cat", corpus, label="entailment")


def test_classification_head(tmp_path, tiny_bert):
    config = TrainConfig(max_steps=2, batch_size=6, lr=1e-3, log_every=1)
    train_cross_encoder(str(tiny_bert), nli(), config, tmp_path / "nli", device="cpu", show_progress=False)
    ce = CrossEncoder.load(tmp_path / "nli", device="cpu")
    assert not ce.regression and ce.labels == ["entailment", "neutral", "contradiction"]
    probs = ce.predict([("the cat sat", "a cat sat"), ("a", "b")])
    assert probs.shape == (2, 3) and np.allclose(probs.sum(axis=1), 1)
    named = ce.predict_pairs([("the cat sat", "a cat sat"), ("a", "b")])  # the labels named in the library
    assert [d["label"] for d in named] == [ce.labels[int(p.argmax())] for p in probs]
    assert list(named[1]["probabilities"]) == ce.labels and named[1]["probabilities"]["neutral"] == probs[1, 1]
    assert ce.evaluate(nli())["confusion"] and len(ce.rerank("the cat", ["a cat", "a dog"], label="neutral")) == 2
    with pytest.raises(InputError, match=r"this cross-encoder classifies pairs into \['entailment', 'neutral', "
                                         r"'contradiction'\]; name the label to rank by"):
        ce.rerank("the cat", ["a cat"])
    with pytest.raises(InputError, match=r"label 'yes' is not one of the cross-encoder's labels"):
        ce.rerank("the cat", ["a cat"], label="yes")
    with pytest.raises(InputError, match="scored pairs, but this cross-encoder classifies"):
        ce.evaluate(sts())


def test_bad_input(tiny_bert, scorer):
    with pytest.raises(InputError, match=r"sts.tsv: example 2 has score 7.0; expected a number in \[0, 5\]"):
        pair_targets(sts([PAIRS[0], ("a", "b", 7.0)]))
    no_range = Dataset("x", "", Path("x.tsv"), [PairExample("a", "b", 1.0)], None, None, [], "sts")
    with pytest.raises(InputError, match="x.tsv: the scores need a range"):
        pair_targets(no_range)
    with pytest.raises(InputError, match="x.tsv: no examples"):
        pair_targets(Dataset("x", "", Path("x.tsv"), [], None, None, [], "sts"))
    out_of_range = Dataset("n", "", Path("n.tsv"), [PairExample("a", "b", None, 3)], None, ["no", "yes"], [], "x")
    with pytest.raises(InputError, match=r"n.tsv: example 1 has label 3, out of range: expected an index 0..1"):
        pair_targets(out_of_range)
    with pytest.raises(InputError, match="loss 'mse': labelled pairs train a classification head"):
        train_cross_encoder(str(tiny_bert), nli(), TrainConfig(), "unused", loss="mse")
    with pytest.raises(ModelLoadError, match="has no sequence-classification head"):
        CrossEncoder.load(tiny_bert, device="cpu")
    ce = CrossEncoder.load(scorer[0], device="cpu")
    with pytest.raises(InputError, match="first has 2 texts but second has 1"):
        ce.predict(["a", "b"], ["c"])
    with pytest.raises(InputError, match=r"pairs\[0\] is 'ab': expected a pair of two texts"):
        ce.predict(["ab"])
    with pytest.raises(InputError, match="labelled pairs, but this cross-encoder gives one score"):
        ce.evaluate(nli())

