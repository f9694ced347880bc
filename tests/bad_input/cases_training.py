"""Bad input for training: twinbert train, classify train, cross-encoder train, mlm train (resume safety,
labels, messages naming the flags the user typed)."""
from __future__ import annotations

from pathlib import Path

from bad_input.cases import Case

STS = ["sentence1\tsentence2\tscore"] + [f"{a}\t{b}\t{s}" for a, b, s in [
    ("the cat sat", "a cat sat", 4.5), ("i love paris", "i love soccer", 2.0), ("the dog ran", "a dog ran", 4.0),
    ("a man is happy", "a woman is sad", 1.0), ("the game is fun", "the game is good", 3.5),
    ("the duck is rubber", "a rubber duck", 4.2), ("i love food", "the table is bad", 0.2),
    ("the man ran", "the man sat", 2.5)]]


def _texts(labels: list[str]) -> str:
    words = ["the cat sat", "a dog ran", "i love paris", "bad food", "a happy man", "the sad woman"]
    return "text\tlabel\n" + "".join(f"{words[k % len(words)]}\t{label}\n" for k, label in enumerate(labels))


def build(root: Path, tiny: Path) -> None:
    from twinbert.train.loop import TrainConfig
    from twinbert.train.sentence import TrainSpec, train_sentence_encoder

    t = root / "training"
    t.mkdir()
    (t / "sts.tsv").write_text("\n".join(STS) + "\n", encoding="utf-8")
    (t / "other.tsv").write_text("\n".join(STS[:1] + STS[:0:-1]) + "\n", encoding="utf-8")  # rows reversed
    (t / "nan-label.tsv").write_text(_texts(["neg", "pos", "nan", "pos"]), encoding="utf-8")
    (t / "empty-label.tsv").write_text(_texts(["neg", "pos", "neg", ""]), encoding="utf-8")
    (t / "three.tsv").write_text(_texts(["neg", "pos", "neutral", "neg"]), encoding="utf-8")
    (t / "pairs-nan.tsv").write_text("sentence1\tsentence2\tlabel\na cat\tthe cat\tyes\na dog\tsoccer\tNaN\n",
                                     encoding="utf-8")
    # a run stopped at step 2 of 4 with its checkpoint: what a killed run leaves
    train_sentence_encoder(str(tiny), [TrainSpec("sts", "cosine", data=str(t / "sts.tsv"))],
                           TrainConfig(epochs=2, batch_size=4, max_steps=2, keep_checkpoint=True), t / "run",
                           show_progress=False)


def _checkpoint_unchanged(root: Path) -> None:
    state = root / "training" / "run" / "checkpoint" / "state.pt"
    assert state.is_file()
    assert not [p for p in state.parent.parent.iterdir() if ".tmp" in p.name or ".old-" in p.name]


def _nothing_at(name: str):
    def check(root: Path) -> None:
        assert not (root / "training" / name).exists()
    return check


T = "{root}/training"
TRAIN = ("train", "--model", "{tiny}", "--task", "sts", "--loss", "cosine", "--no-progress")
RESUME = ("train", "--model", "{tiny}", "--task", "sts", "--no-progress", "--epochs", "2", "--batch-size", "4",
          "--output", f"{T}/run", "--resume")
CLASSIFY = ("classify", "train", "--model", "{tiny}", "--no-progress", "--max-steps", "1")

CASES = [
    Case("train-resume-other-data", "--resume with another --data file",
         (*RESUME, "--loss", "cosine", "--data", f"{T}/other.tsv"),
         2, "--resume: training data was ", _checkpoint_unchanged),
    Case("train-resume-other-loss", "--resume with another --loss",
         (*RESUME, "--data", f"{T}/sts.tsv", "--loss", "cosent"),
         2, "--resume: losses 1: loss was 'cosine' in the interrupted run but is 'cosent' now", _checkpoint_unchanged),
    Case("train-resume-other-limit", "--resume with another --limit (other rows of the same file)",
         (*RESUME, "--loss", "cosine", "--data", f"{T}/sts.tsv", "--limit", "6"),
         2, "gives other rows than in the interrupted run (8 rows", _checkpoint_unchanged),
    Case("train-resume-nothing", "--resume where no run was interrupted",
         (*TRAIN, "--data", f"{T}/sts.tsv", "--output", f"{T}/never", "--resume"),
         2, "there is no checkpoint to continue", _nothing_at("never/checkpoint")),
    Case("train-generic-without-data", "--task sts without --data", (*TRAIN, "--output", f"{T}/x"),
         2, "task 'sts' reads your own file: give --data=FILE", _nothing_at("x")),
    Case("train-unknown-loss", "an unknown --loss",
         ("train", "--model", "{tiny}", "--task", "sts", "--data", f"{T}/sts.tsv", "--loss", "hinge", "--output",
          f"{T}/x"), 2, "--loss 'hinge': unknown; expected one of softmax", _nothing_at("x")),
    Case("train-matryoshka-too-big", "--matryoshka larger than the model's dimension",
         (*TRAIN, "--data", f"{T}/sts.tsv", "--matryoshka", "64,16", "--output", f"{T}/x"),
         2, "--matryoshka 64: larger than the embedding dimension 32", _nothing_at("x")),
    Case("train-mse-without-teacher", "--loss mse without --teacher",
         ("train", "--model", "{tiny}", "--task", "sts", "--data", f"{T}/sts.tsv", "--loss", "mse", "--output",
          f"{T}/x"), 2, "needs --teacher, the model whose embeddings to imitate", _nothing_at("x")),
    Case("train-unknown-task", "an unknown --task", ("train", "--model", "{tiny}", "--task", "nope", "--loss", "cosine",
                                                     "--output", f"{T}/x"),
         2, "--task 'nope': unknown; expected a registered dataset (", _nothing_at("x")),
    Case("classify-wrong-kind", "classify train on a task that is not classification data",
         (*CLASSIFY, "--task", "stsb", "--output", f"{T}/x"),
         2, "--task stsb: sts data; this command needs classification data", _nothing_at("x")),
    Case("classify-nan-label", "a classifier's label column holding nan",
         (*CLASSIFY, "--task", f"{T}/nan-label.tsv", "--output", f"{T}/x"),
         2, "nan-label.tsv, line 4, field 'label': is 'nan', a missing-value marker", _nothing_at("x")),
    Case("classify-empty-label", "a classifier's label column with an empty label",
         (*CLASSIFY, "--task", f"{T}/empty-label.tsv", "--output", f"{T}/x"),
         2, "empty-label.tsv, line 5, field 'label': is empty", _nothing_at("x")),
    Case("classify-label-not-declared", "a label outside --labels",
         (*CLASSIFY, "--task", f"{T}/three.tsv", "--labels", "neg,pos", "--output", f"{T}/x"),
         2, "three.tsv, line 4, field 'label': 'neutral' is not a known label; expected one of neg, pos",
         _nothing_at("x")),
    Case("classify-one-label-declared", "--labels with one label",
         (*CLASSIFY, "--task", f"{T}/three.tsv", "--labels", "neg", "--output", f"{T}/x"),
         2, "--labels 'neg': 1 given; expected two or more distinct label names", _nothing_at("x")),
    Case("classify-missing-eval", "classify train --eval of a file that does not exist",
         (*CLASSIFY, "--task", f"{T}/three.tsv", "--eval", f"{T}/nope.tsv", "--output", f"{T}/x"),
         2, "--eval ", _nothing_at("x")),
    Case("cross-encoder-nan-label", "a cross-encoder's labelled pairs holding NaN",
         ("cross-encoder", "train", "--model", "{tiny}", "--task", f"{T}/pairs-nan.tsv", "--labels", "yes,no",
          "--output", f"{T}/x"), 2, "pairs-nan.tsv, line 3, field 'label': 'NaN' is not a known label",
         _nothing_at("x")),
    Case("cross-encoder-nan-inferred", "labelled pairs holding NaN, labels inferred",
         ("cross-encoder", "train", "--model", "{tiny}", "--task", f"{T}/pairs-nan.tsv", "--target", "label",
          "--output", f"{T}/x"), 2, "pairs-nan.tsv, line 3, field 'label': is 'NaN', a missing-value marker",
         _nothing_at("x")),
    Case("mlm-missing-data", "mlm train --data of a file that does not exist",
         ("mlm", "train", "--model", "{tiny}", "--data", f"{T}/missing.txt", "--output", f"{T}/x"),
         2, "--data ", _nothing_at("x")),
]
