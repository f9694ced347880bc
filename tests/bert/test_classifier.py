"""Sequence classifier: training through the one loop, batched evaluation, save/load, label checks, CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from twinbert.bert import Classifier, train_classifier
from twinbert.data import Dataset, TextExample
from twinbert.data.spec import read_spec
from twinbert.errors import InputError, ModelLoadError
from twinbert.train.loop import TrainConfig

POSITIVE = ["i love paris", "happy happy dog", "really good fun", "the game is good", "very happy man"]
NEGATIVE = ["the cat is sad", "bad bad game", "not good food", "really bad music", "a very sad woman"]
LABELS = ["negative", "positive"]


def sentiment(path: Path | None = None, labels=LABELS, extra=()) -> Dataset:
    examples = [TextExample(t, 1) for t in POSITIVE] + [TextExample(t, 0) for t in NEGATIVE] + list(extra)
    return Dataset("toy", "train", path or Path("toy.tsv"), examples, None, list(labels), [], "classification")


def write_tsv(path: Path, rows) -> Path:
    path.write_text("text\tlabel\n" + "".join(f"{t}\t{label}\n" for t, label in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_bert):
    out = tmp_path_factory.mktemp("clf") / "model"
    config = TrainConfig(epochs=20, batch_size=10, lr=1e-2, warmup=0.0, log_every=1, seed=3)
    result = train_classifier(str(tiny_bert), sentiment(), config, out, device="cpu", show_progress=False)
    return out, result


def test_loss_falls_and_last_model_is_saved(trained):
    out, result = trained
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if r["event"] == "train"]
    assert len(losses) == result.steps == 20
    assert losses[0] > 0.6 and np.mean(losses[-3:]) < 0.3
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert config["twinbert"]["kind"] == "classifier"
    assert (out / "README.md").read_text().count("negative") >= 1
    clf = Classifier.load(out, device="cpu")
    assert clf.evaluate(sentiment())["accuracy"] == 1.0


def test_round_trip_and_transformers_load_the_folder(trained, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out, _ = trained
    clf = Classifier.load(out, device="cpu")
    texts = POSITIVE + NEGATIVE + ["", "paris"]
    first = clf.predict(texts)
    again = Classifier.load(clf.save(tmp_path / "copy"), device="cpu").predict(texts)
    assert [p["label"] for p in first] == [p["label"] for p in again]
    np.testing.assert_allclose([p["score"] for p in first], [p["score"] for p in again], atol=1e-6)
    # transformers alone, one text at a time: the same probabilities as the batched predictions
    model = AutoModelForSequenceClassification.from_pretrained(str(out)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    assert model.config.id2label == {0: "negative", 1: "positive"}
    for text, p in zip(texts, first):
        with torch.no_grad():
            probs = model(**tokenizer(text, return_tensors="pt")).logits.softmax(-1)[0].numpy()
        np.testing.assert_allclose([p["probabilities"][n] for n in LABELS], probs, atol=1e-5)


def test_evaluate_reports_confusion_counts(trained):
    clf = Classifier.load(trained[0], device="cpu")
    report = clf.evaluate(sentiment(), batch_tokens=16)  # several batches
    predicted = [LABELS.index(p["label"]) for p in clf.predict(POSITIVE + NEGATIVE)]
    gold = [1] * len(POSITIVE) + [0] * len(NEGATIVE)
    assert report["examples"] == 10 and report["labels"] == LABELS
    assert np.array(report["confusion"]).sum() == 10
    assert report["confusion"][1][1] == sum(p == g == 1 for p, g in zip(predicted, gold))
    assert report["accuracy"] == pytest.approx(np.mean(np.array(predicted) == gold))
    assert 0 <= report["macro_f1"] <= 1


def test_bad_labels_are_named(tiny_bert, trained):
    clf = Classifier.load(trained[0], device="cpu")
    out_of_range = sentiment(extra=[TextExample("very good", 2)])
    with pytest.raises(InputError, match=r"toy.tsv: example 11 \('very good'\) has label 2, out of range: "
                                         r"expected an index 0..1 into the labels \['negative', 'positive'\]"):
        train_classifier(str(tiny_bert), out_of_range, TrainConfig(), "unused", device="cpu")
    unseen = Dataset("dev", "dev", Path("dev.tsv"), [TextExample("so so", "neutral")], None, None, [],
                     "classification")
    with pytest.raises(InputError, match=r"dev.tsv: example 1 has label 'neutral', which the classifier does not "
                                         r"know; its labels are \['negative', 'positive'\]"):
        clf.evaluate(unseen)
    with pytest.raises(InputError, match="which the classifier does not know"):  # checked before any training
        train_classifier(str(tiny_bert), sentiment(), TrainConfig(), "unused", eval_data=[unseen], device="cpu")
    with pytest.raises(InputError, match="example 1 .* has no label"):
        clf.evaluate([TextExample("unlabelled")])
    one_label = Dataset("one", "train", Path("one.tsv"), [TextExample("good", "yes")] * 3, None, None, [], "x")
    with pytest.raises(InputError, match="one.tsv: every example has the label 'yes'; a classifier needs at least"):
        train_classifier(str(tiny_bert), one_label, TrainConfig(), "unused", device="cpu")
    with pytest.raises(InputError, match="texts is empty"):
        clf.predict([])


def test_checkpoint_without_head(tiny_bert, tmp_path):
    with pytest.raises(ModelLoadError, match="has no sequence-classification head .*architectures: BertModel"):
        Classifier.load(tiny_bert, device="cpu")
    from transformers import AutoTokenizer, BertForSequenceClassification

    one_output = tmp_path / "regression"
    BertForSequenceClassification.from_pretrained(str(tiny_bert), num_labels=1).save_pretrained(str(one_output))
    AutoTokenizer.from_pretrained(str(tiny_bert)).save_pretrained(str(one_output))
    with pytest.raises(InputError, match="has a single output .*load it with twinbert.bert.CrossEncoder"):
        Classifier.load(one_output, device="cpu")


def test_empty_file_and_bad_task(tmp_path):
    empty = write_tsv(tmp_path / "empty.tsv", [])
    with pytest.raises(InputError, match=r"empty.tsv: no rows"):
        read_spec(str(empty), "classification")
    with pytest.raises(InputError, match="task nope.tsv: neither a registered dataset .* nor an existing file"):
        read_spec("nope.tsv", "classification")
    with pytest.raises(InputError, match="task stsb: sts data; this command needs classification data"):
        read_spec("stsb", "classification")

