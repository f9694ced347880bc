"""Sequence classification (e.g. sentiment): a transformers AutoModelForSequenceClassification, its
tokenizer and its label names, trained with cross-entropy through the one training loop.

    clf = train_classifier("all-MiniLM-L6-v2", load_task("sst2", "train"), TrainConfig(max_steps=300), "out")
    Classifier.load("out").predict(["a gripping, funny film"])   # [{"label": "positive", ...}]

Labels are checked before the model loads: an integer label must index the dataset's label names, a
text label must be one of them, and evaluation data may only hold labels the classifier knows.
"""
from __future__ import annotations

import os

import numpy as np

from ..errors import InputError
from ..evaluate.classification import classification_report
from ..modules.transformer import Tokenized
from ..train.loop import TrainResult
from ..train.output import check_output
from ..train.settings import TrainConfig
from ._common import data_place, text_list
from .sequence import SequenceModel, load_sequence_transformer, softmax
from .training import HeadRun, SequenceObjective, train_head


def labelled_texts(data, what: str = "data", declared: list[str] | None = None
                   ) -> tuple[list[str], list[str], list[str] | None]:
    """(texts, label names, the data's label vocabulary or None) of a Dataset or a list of TextExample.

    An int label is an index into Dataset.labels (its name is taken from there); a text label must be one
    of `declared`, else of Dataset.labels when the dataset names them, else clean (the rule of
    twinbert.data.labels). Every error names the file (or `what`) and the example.
    """
    examples = data.examples if hasattr(data, "examples") else list(data)
    vocab = [str(x) for x in data.labels] if getattr(data, "labels", None) else None
    where = data_place(data, what)
    if not examples:
        raise InputError(f"{where}: no examples; expected at least one labelled text")
    texts, names = [], []
    for k, ex in enumerate(examples, 1):
        text, label = getattr(ex, "text", None), getattr(ex, "label", None)
        if not isinstance(text, str):
            raise InputError(f"{where}: example {k} is {type(ex).__name__}, expected a TextExample (text, label)")
        if label is None:
            raise InputError(f"{where}: example {k} ({text[:40]!r}) has no label; a classifier trains and "
                             "evaluates on labelled texts")
        texts.append(text)
        names.append(label_name(label, vocab, declared, f"{where}: example {k} ({text[:40]!r})"))
    return texts, names, vocab


def label_name(label, vocab: list[str] | None, declared: list[str] | None, where: str) -> str:
    """The class name of one example's label: an int indexes `vocab`; the name must be one of `declared`,
    else of `vocab`, else clean (twinbert.data.labels.check_label)."""
    from ..data.labels import example_label

    if isinstance(label, (int, np.integer)) and not isinstance(label, (bool, np.bool_)) and vocab is not None:
        if not 0 <= int(label) < len(vocab):
            raise InputError(f"{where} has label {int(label)}, out of range: expected an index 0..{len(vocab) - 1} "
                             f"into the labels {vocab}")
        label = vocab[int(label)]
    if isinstance(label, bool) or not isinstance(label, (str, int, np.integer)):
        raise InputError(f"{where} has label {label!r} ({type(label).__name__}); expected a class name (str) "
                         "or an index (int) into the data's labels")
    return example_label(str(label), declared if declared is not None else vocab, where)


def _check_known(names: list[str], known: list[str], where: str) -> None:
    for k, name in enumerate(names, 1):
        if name not in known:
            raise InputError(f"{where}: example {k} has label {name!r}, which the classifier does not know; "
                             f"its labels are {known}")


class Classifier(SequenceModel):
    """A sequence classifier: texts -> one of `labels` with probabilities."""
    kind = "classifier"

    @classmethod
    def load(cls, name_or_path: str | os.PathLike, *, device: str | None = None, precision: str = "float32",
             trust_remote_code: bool = False) -> Classifier:
        """A trained classifier folder (any AutoModelForSequenceClassification checkpoint with 2+ labels)."""
        transformer, _ = load_sequence_transformer(name_or_path, what="classifier", device=device,
                                                   precision=precision, trust_remote_code=trust_remote_code)
        if int(transformer.model.config.num_labels) < 2:
            raise InputError(f"model {name_or_path} has a single output (a regression head or a cross-encoder), "
                             "not class labels; load it with twinbert.bert.CrossEncoder")
        return cls(transformer, str(name_or_path))

    @classmethod
    def new(cls, base: str | os.PathLike, labels: list[str], *, device: str | None = None,
            trust_remote_code: bool = False, seed: int | None = None) -> Classifier:
        """`base` with a new classification head for `labels` (or its own trained head with these labels);
        a new head's weights are drawn with `seed`."""
        labels = [str(x) for x in labels]
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise InputError(f"labels {labels}: a classifier needs at least two distinct labels")
        transformer, _ = load_sequence_transformer(base, labels=labels, what="classifier", device=device,
                                                   trust_remote_code=trust_remote_code, seed=seed)
        clf = cls(transformer, str(base))
        if "base_model" not in clf.info:
            clf.set_info(base_model=str(base))
        return clf

    def probabilities(self, texts, *, batch_tokens: int | None = None) -> np.ndarray:
        """[n, len(labels)] softmax probabilities."""
        return softmax(self.logits(text_list(texts, "texts"), batch_tokens=batch_tokens).astype(np.float64))

    def predict(self, texts, *, batch_tokens: int | None = None) -> list[dict]:
        """One {"label", "score", "probabilities": {label: p}} per text: the most likely label and its
        probability, and the probability of every label (batched; results in input order)."""
        probs = self.probabilities(texts, batch_tokens=batch_tokens)
        labels = self.labels
        return [{"label": labels[int(row.argmax())], "score": float(row.max()),
                 "probabilities": {name: float(p) for name, p in zip(labels, row)}} for row in probs]

    def evaluate(self, data, *, batch_tokens: int | None = None) -> dict:
        """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion counts (rows = gold label,
        columns = predicted, in the order of "labels") on labelled data (a Dataset or TextExamples)."""
        texts, gold, _ = labelled_texts(data, "evaluation data")
        _check_known(gold, self.labels, data_place(data, "evaluation data"))
        report = self.metrics_of(self.tokenize(texts), [self.labels.index(g) for g in gold], batch_tokens=batch_tokens)
        return {"examples": len(texts), **report}

    def metrics_of(self, tokens: Tokenized, gold, *, batch_tokens: int | None = None) -> dict:
        """The classification report of tokenized texts against their gold label indices."""
        return classification_report(self.logits_of(tokens, batch_tokens=batch_tokens), gold, self.labels)


def _merge_labels(parts: list[tuple[list[str], list[str], list[str] | None]]) -> list[str]:
    labels: list[str] = []
    for _, names, vocab in parts:
        for name in (vocab if vocab is not None else sorted(set(names))):
            if name not in labels:
                labels.append(name)
    return labels


def _datasets(data) -> list:
    """A list of datasets from one dataset, one list of examples, or a list of datasets."""
    if isinstance(data, (list, tuple)) and not any(hasattr(d, "text") for d in data):
        return list(data)
    return [data]


def train_classifier(model, data, config: TrainConfig, output: str | os.PathLike, *, eval_data=(),
                     labels=None, resume: bool = False, overwrite: bool = False, device: str | None = None,
                     max_seq_length: int | None = None, show_progress: bool = True,
                     trust_remote_code: bool = False) -> TrainResult:
    """Fine-tune a classifier on labelled texts with cross-entropy (see twinbert.train.loop.fit).

    model: a Classifier, a classifier folder, or any encoder (a plain checkpoint or a sentence-transformers
    folder such as all-MiniLM-L6-v2) that gets a new head for the training data's labels.
    data: a Dataset or a list of TextExample with labels, or a list of Datasets (concatenated).
    eval_data: a Dataset or Datasets to evaluate on; the first gives the main metric (accuracy).
    labels: the declared label set, in the order of the head's outputs (e.g. ["negative", "positive"]);
    default: the data's own label names, else the labels found, which must then all be clean (a "nan" or
    empty label is an error, see twinbert.data.labels).
    Writes the classifier (the best evaluation, else the last), the log, the learning curve and the card
    to `output`.
    """
    from ..data.labels import declared_labels

    config = config.checked()
    declared = declared_labels(labels)
    output = check_output(output, resume, overwrite, sources=[model])
    datasets = _datasets(data)
    if not datasets:
        raise InputError("nothing to train on: give at least one labelled dataset")
    parts = [labelled_texts(d, "training data", declared) for d in datasets]
    labels = declared or _merge_labels(parts)
    evals = _datasets(eval_data)
    eval_parts = [labelled_texts(d, "evaluation data", declared) for d in evals]
    if not isinstance(model, Classifier) and len(labels) < 2:
        raise InputError(f"{data_place(datasets[0], 'training data')}: every example has the label {labels[0]!r}; "
                         "a classifier needs at least two labels")
    clf = Classifier.for_training(model, labels, declared, seed=config.seed, device=device,
                                  trust_remote_code=trust_remote_code)
    for d, (_, names, _) in zip(evals, eval_parts):
        _check_known(names, clf.labels, data_place(d, "evaluation data"))
    if max_seq_length is not None:
        clf.set_max_seq_length(max_seq_length)
    clf.set_info(loss="cross-entropy")
    texts = [t for p in parts for t in p[0]]
    targets = np.array([labels.index(n) for p in parts for n in p[1]], dtype=np.int64)
    objective = SequenceObjective(clf, clf.tokenize(texts), targets, "cross-entropy",
                                  name="+".join(str(getattr(d, "name", "data")) for d in datasets))
    job = HeadRun(
        model=clf, objective=objective, save=clf.write, data=datasets,
        settings={"loss": "cross-entropy", "labels": list(clf.labels),
                  "max_seq_length": clf.transformer.max_seq_length},
        main_metric="accuracy", score=clf.metrics_of, eval_data=evals,
        eval_sets=[(clf.tokenize(p[0]), np.array([clf.labels.index(n) for n in p[1]])) for p in eval_parts],
        title="a text classifier fine-tuned with twinbert",
        summary=f"Base model: `{clf.info.get('base_model', clf.name)}` with a sequence-classification head "
                f"(`{type(clf.model).__name__}`), trained with cross-entropy. Labels: "
                + ", ".join(f"{i} = {name}" for i, name in enumerate(clf.labels))
                + f". max_seq_length {clf.transformer.max_seq_length}.",
        usage=["from twinbert.bert import Classifier", "", f"clf = Classifier.load({str(output)!r})",
               "print(clf.predict([\"a gripping, funny film\"]))", "", "# or with transformers alone:",
               "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
               f"model = AutoModelForSequenceClassification.from_pretrained({str(output)!r})"])
    return train_head(model, job, config, output, resume=resume, show_progress=show_progress)


__all__ = ["Classifier", "train_classifier", "labelled_texts"]
