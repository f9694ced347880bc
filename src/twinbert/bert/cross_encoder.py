"""Cross-encoder: BERT reads both texts at once ([CLS] a [SEP] b [SEP]) and a head on top scores the pair.

Two kinds of head:
  one score   (STS, relevance): num_labels = 1, score = sigmoid(logit) in [0, 1]; trained on gold scores
              scaled to [0, 1] by the data's score range (STS-B: s / 5) with binary cross-entropy
              (default) or MSE.
  labels      (NLI, paraphrase): num_labels = classes, softmax probabilities; trained with cross-entropy.

Slower than a bi-encoder (every pair is a forward pass, nothing is cached) and usually more accurate,
so it reranks a bi-encoder's top hits. The saved folder is a plain AutoModelForSequenceClassification
checkpoint; sentence-transformers' CrossEncoder loads it too (config.json names the activation).
"""
from __future__ import annotations

import os

import numpy as np

from ..errors import InputError
from ..evaluate.classification import classification_report
from ..evaluate.sts import pearson, spearman
from ..modules.transformer import Tokenized
from ..train.loop import TrainResult
from ..train.output import check_output
from ..train.settings import TrainConfig
from ._common import data_place, text_list
from .classifier import label_name
from .sequence import SequenceModel, load_sequence_transformer, sigmoid, softmax
from .training import HeadRun, SequenceObjective, train_head

SCORE_LOSSES = ("bce", "mse")
# what sentence-transformers' CrossEncoder applies to the logits, recorded in config.json
ACTIVATIONS = {True: "torch.nn.modules.activation.Sigmoid", False: "torch.nn.modules.linear.Identity"}


def _pairs(first, second) -> tuple[list[str], list[str]]:
    """(a texts, b texts) from a list of (a, b) pairs, or from two lists (or two texts)."""
    if second is None:
        if isinstance(first, str):
            raise InputError("one text given: a cross-encoder scores pairs; give (a, b) pairs or two lists")
        rows = list(first)
        if not rows:
            raise InputError("pairs is empty: give at least one (a, b) pair")
        for i, row in enumerate(rows):
            if isinstance(row, str) or len(row) != 2:
                raise InputError(f"pairs[{i}] is {row!r}: expected a pair of two texts (a, b)")
        a, b = [r[0] for r in rows], [r[1] for r in rows]
    else:
        a, b = text_list(first, "first"), text_list(second, "second")
        if len(a) != len(b):
            raise InputError(f"first has {len(a)} texts but second has {len(b)}: give one second text per first text")
    return text_list(a, "first texts"), text_list(b, "second texts")


def pair_targets(data, score_range=None, what: str = "data", declared: list[str] | None = None):
    """(a texts, b texts, targets, labels) of pair data: targets are scores scaled to [0, 1] with
    labels None, or label names with `labels` the declared label set, else the data's label vocabulary,
    else the labels found (which must then be clean: twinbert.data.labels)."""
    examples = data.examples if hasattr(data, "examples") else list(data)
    where = data_place(data, what)
    if not examples:
        raise InputError(f"{where}: no examples; expected at least one text pair")
    vocab = [str(x) for x in data.labels] if getattr(data, "labels", None) else None
    first = examples[0]
    scored = getattr(first, "score", None) is not None
    if not scored and getattr(first, "label", None) is None:
        raise InputError(f"{where}: example 1 has neither a score nor a label; a cross-encoder trains on scored "
                         "pairs (STS) or labelled pairs (NLI)")
    if scored and declared is not None:
        raise InputError(f"{where}: scored pairs, but labels {declared} were declared; labels apply to labelled "
                         "pairs (drop them for a one-score head)", argument="labels")
    if scored:
        low, high = score_range if score_range is not None else (getattr(data, "score_range", None) or (None, None))
        if low is None or not high > low:
            raise InputError(f"{where}: the scores need a range to scale them to [0, 1]; pass score_range=(low, high), "
                             "e.g. (0, 5) for STS-B")
    a, b, targets = [], [], []
    for k, ex in enumerate(examples, 1):
        s1, s2 = getattr(ex, "sentence1", None), getattr(ex, "sentence2", None)
        if not isinstance(s1, str) or not isinstance(s2, str):
            raise InputError(f"{where}: example {k} is {type(ex).__name__}, expected a PairExample")
        a.append(s1)
        b.append(s2)
        if scored:
            if ex.score is None or not low <= float(ex.score) <= high:
                raise InputError(f"{where}: example {k} has score {ex.score!r}; expected a number in "
                                 f"[{low:g}, {high:g}] (the score range)")
            targets.append((float(ex.score) - low) / (high - low))
        else:
            if ex.label is None:
                raise InputError(f"{where}: example {k} has no label; every pair needs one")
            targets.append(label_name(ex.label, vocab, declared, f"{where}: example {k}"))
    labels = None if scored else (declared or vocab or sorted(set(targets)))
    return a, b, targets, labels


class CrossEncoder(SequenceModel):
    """Scores text pairs jointly. `regression`: one score in [0, 1]; else probabilities over `labels`."""
    kind = "cross-encoder"

    @classmethod
    def load(cls, name_or_path: str | os.PathLike, *, device: str | None = None, precision: str = "float32",
             trust_remote_code: bool = False) -> CrossEncoder:
        """A trained cross-encoder folder (any AutoModelForSequenceClassification checkpoint)."""
        transformer, _ = load_sequence_transformer(name_or_path, what="cross-encoder", device=device,
                                                   precision=precision, trust_remote_code=trust_remote_code)
        return cls(transformer, str(name_or_path))

    @classmethod
    def new(cls, base: str | os.PathLike, labels: list[str] | None = None, *, device: str | None = None,
            trust_remote_code: bool = False, seed: int | None = None) -> CrossEncoder:
        """`base` with a new head: one score (labels=None) or one output per label; a new head's weights
        are drawn with `seed`."""
        names = ["score"] if labels is None else [str(x) for x in labels]
        if labels is not None and (len(names) < 2 or len(set(names)) != len(names)):
            raise InputError(f"labels {names}: a classification head needs at least two distinct labels")
        transformer, _ = load_sequence_transformer(base, labels=names, what="cross-encoder", device=device,
                                                   trust_remote_code=trust_remote_code, seed=seed)
        model = cls(transformer, str(base))
        if "base_model" not in model.info:
            model.set_info(base_model=str(base))
        model.model.config.sentence_transformers = {"activation_fn": ACTIVATIONS[model.regression]}
        return model

    def predict(self, first, second=None, *, batch_tokens: int | None = None,
                show_progress: bool | None = None) -> np.ndarray:
        """Scores of pairs, given as a list of (a, b) or as two lists: [n] sigmoid scores in [0, 1] for a
        one-score head, [n, len(labels)] softmax probabilities for a classification head."""
        a, b = _pairs(first, second)
        return self._outputs(self.logits(a, b, batch_tokens=batch_tokens, show_progress=show_progress))

    def predict_pairs(self, first, second=None, *, batch_tokens: int | None = None) -> list[dict]:
        """One dict per pair (given as for predict): {"first", "second", "score"} for a one-score head;
        {"first", "second", "label", "probabilities": {label: p}} for a classification head, "label"
        the most likely one."""
        a, b = _pairs(first, second)
        scores = self.predict(a, b, batch_tokens=batch_tokens)
        if self.regression:
            return [{"first": x, "second": y, "score": float(s)} for x, y, s in zip(a, b, scores)]
        return [{"first": x, "second": y, "label": self.labels[int(p.argmax())],
                 "probabilities": {n: float(v) for n, v in zip(self.labels, p)}} for x, y, p in zip(a, b, scores)]

    def _outputs(self, logits: np.ndarray) -> np.ndarray:
        logits = logits.astype(np.float64)
        return sigmoid(logits[:, 0]) if self.regression else softmax(logits)

    def rerank(self, query: str, candidates, *, corpus=None, top_k: int | None = None, label: str | None = None,
               batch_tokens: int | None = None) -> list[dict]:
        """Order candidates by the cross-encoder's score for (query, candidate), best first.

        candidates: texts; or one query's hits from twinbert.semantic_search ([(corpus_index, score)], with
        corpus = the corpus texts); or Index.search hits (dicts with "text"). A classification head scores
        by the probability of `label` (e.g. "entailment").
        Returns [{"rank", "index", "text", "score"}] (+ "first_stage_score" and "id" where the hits had them).
        """
        if not isinstance(query, str):
            raise InputError(f"query is {type(query).__name__}, expected a text")
        column = self._score_column(label)
        items = self._candidates(candidates, corpus)
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise InputError(f"top_k = {top_k!r}: expected a positive whole number")
        scores = self.predict([query] * len(items), [it["text"] for it in items], batch_tokens=batch_tokens)
        if column is not None:
            scores = scores[:, column]
        order = sorted(range(len(items)), key=lambda i: (-scores[i], i))[:top_k]
        return [{"rank": r, **items[i], "score": float(scores[i])} for r, i in enumerate(order, 1)]

    def _score_column(self, label: str | None) -> int | None:
        if self.regression:
            if label is not None:
                raise InputError(f"label {label!r}: this cross-encoder gives one score, it has no labels to choose")
            return None
        if label is None:
            raise InputError(f"this cross-encoder classifies pairs into {self.labels}; name the label to rank by, "
                             f"e.g. label={self.labels[0]!r}", argument="label")
        if label not in self.labels:
            raise InputError(f"label {label!r} is not one of the cross-encoder's labels {self.labels}")
        return self.labels.index(label)

    @staticmethod
    def _candidates(candidates, corpus) -> list[dict]:
        items = [candidates] if isinstance(candidates, str) else list(candidates)
        if not items:
            raise InputError("candidates is empty: give at least one text to rerank")
        out = []
        for i, c in enumerate(items):
            if isinstance(c, str):
                out.append({"index": i, "text": c})
            elif isinstance(c, dict):
                if not isinstance(c.get("text"), str):
                    raise InputError(f"candidates[{i}] has no text (an Index built without texts?); "
                                     "the cross-encoder needs the candidate texts")
                hit = {"index": c.get("index", i), "text": c["text"]}
                if "id" in c:
                    hit["id"] = c["id"]
                if "score" in c:
                    hit["first_stage_score"] = float(c["score"])
                out.append(hit)
            elif isinstance(c, (tuple, list)) and len(c) == 2:
                if corpus is None:
                    raise InputError("candidates are (corpus_index, score) hits: pass corpus= the corpus texts")
                index = int(c[0])
                if not 0 <= index < len(corpus):
                    raise InputError(f"candidates[{i}] points at corpus index {index}, but the corpus has "
                                     f"{len(corpus)} texts")
                out.append({"index": index, "text": corpus[index], "first_stage_score": float(c[1])})
            else:
                raise InputError(f"candidates[{i}] is {c!r}: expected a text, a (corpus_index, score) hit or a "
                                 "dict with 'text'")
        return out

    def evaluate(self, data, *, score_range=None, batch_tokens: int | None = None) -> dict:
        """STS data on a one-score head: Spearman and Pearson of the scores against the gold scores.
        Labelled pairs on a classification head: accuracy, macro-F1, per-class scores, confusion counts."""
        a, b, targets, labels = pair_targets(data, score_range, "evaluation data")
        self._check_fits(labels, targets, data_place(data, "evaluation data"))
        return {"examples": len(a), **self.metrics_of(self.tokenize(a, b), targets, batch_tokens=batch_tokens)}

    def metrics_of(self, tokens: Tokenized, targets, *, batch_tokens: int | None = None) -> dict:
        """The metrics of tokenized pairs against their targets (scores in [0, 1], or label names)."""
        return self._metrics(self._outputs(self.logits_of(tokens, batch_tokens=batch_tokens)), targets)

    def _check_fits(self, labels, targets, where: str) -> None:
        if self.regression and labels is not None:
            raise InputError(f"{where}: labelled pairs, but this cross-encoder gives one score; evaluate it on "
                             "scored pairs (STS)")
        if not self.regression:
            if labels is None:
                raise InputError(f"{where}: scored pairs, but this cross-encoder classifies into {self.labels}")
            for k, name in enumerate(targets, 1):
                if name not in self.labels:
                    raise InputError(f"{where}: example {k} has label {name!r}, which the cross-encoder does not "
                                     f"know; its labels are {self.labels}")

    def _metrics(self, predicted: np.ndarray, targets) -> dict:
        if self.regression:
            return {"spearman": spearman(predicted, targets), "pearson": pearson(predicted, targets)}
        return classification_report(predicted, [self.labels.index(t) for t in targets], self.labels)


def train_cross_encoder(model, data, config: TrainConfig, output: str | os.PathLike, *, loss: str | None = None,
                        score_range=None, eval_data=(), labels=None, resume: bool = False, overwrite: bool = False,
                        device: str | None = None, max_seq_length: int | None = None, show_progress: bool = True,
                        trust_remote_code: bool = False) -> TrainResult:
    """Fine-tune a cross-encoder on scored pairs (one-score head; loss "bce" (default) or "mse") or on
    labelled pairs (classification head; cross-entropy). See the module docstring.

    model: a CrossEncoder, a cross-encoder folder, or any encoder (plain checkpoint or sentence-transformers
    folder) that gets a new head. data: a Dataset of PairExample (scores need a score range: the data's,
    e.g. STS-B's 0-5, or `score_range`). eval_data: Datasets; the first gives the main metric (spearman
    or accuracy). labels: the declared label set of labelled pairs, in the order of the head's outputs;
    default: the data's own label names, else the labels found, which must then all be clean.
    """
    from ..data.labels import declared_labels

    config = config.checked()
    declared = declared_labels(labels)
    output = check_output(output, resume, overwrite, sources=[model])
    a, b, targets, labels = pair_targets(data, score_range, "training data", declared)
    loss = _loss(loss, labels, data)
    evals = list(eval_data) if isinstance(eval_data, (list, tuple)) else [eval_data]
    eval_parts = [pair_targets(d, None, "evaluation data", declared) for d in evals]
    ce = CrossEncoder.for_training(model, labels, declared, seed=config.seed, device=device,
                                   trust_remote_code=trust_remote_code)
    ce._check_fits(labels, targets, data_place(data, "training data"))
    for d, (_, _, gold, names) in zip(evals, eval_parts):
        ce._check_fits(names, gold, data_place(d, "evaluation data"))
    if max_seq_length is not None:
        ce.set_max_seq_length(max_seq_length)
    low_high = None if labels is not None else list(score_range or data.score_range)
    ce.set_info(loss=loss, score_range=low_high)
    values = (np.asarray(targets, dtype=np.float32) if labels is None
              else np.array([ce.labels.index(t) for t in targets], dtype=np.int64))
    objective = SequenceObjective(ce, ce.tokenize(a, b), values, loss, name=str(getattr(data, "name", "pairs")))
    head = ("one score: sigmoid(logit) in [0, 1], trained on gold scores scaled from "
            f"[{low_high[0]:g}, {low_high[1]:g}] to [0, 1] with {loss}" if labels is None
            else "labels " + ", ".join(f"{i} = {n}" for i, n in enumerate(ce.labels)) + ", trained with cross-entropy")
    job = HeadRun(
        model=ce, objective=objective, save=ce.write, data=[data],
        settings={"loss": loss, "score_range": low_high, "labels": None if ce.regression else list(ce.labels),
                  "max_seq_length": ce.transformer.max_seq_length},
        main_metric="spearman" if ce.regression else "accuracy", score=ce.metrics_of,
        eval_data=evals, eval_sets=[(ce.tokenize(p[0], p[1]), p[2]) for p in eval_parts],
        title="a cross-encoder fine-tuned with twinbert",
        summary=f"Base model: `{ce.info.get('base_model', ce.name)}`, reading both texts at once "
                f"([CLS] a [SEP] b [SEP]) with a sequence-classification head (`{type(ce.model).__name__}`). "
                f"Head: {head}. max_seq_length {ce.transformer.max_seq_length}.",
        usage=["from twinbert.bert import CrossEncoder", "", f"ce = CrossEncoder.load({str(output)!r})",
               "print(ce.predict([(\"A man plays a guitar.\", \"Someone plays an instrument.\")]))",
               "print(ce.rerank(\"a person playing music\",",
               "                [\"A man plays a guitar.\", \"The stock market fell.\"]))"])
    return train_head(model, job, config, output, resume=resume, show_progress=show_progress)


def _loss(loss: str | None, labels: list[str] | None, data) -> str:
    """The loss of a head on this data: scored pairs train with bce (default) or mse, labelled pairs
    with cross-entropy."""
    if labels is None:
        loss = loss or "bce"
        if loss not in SCORE_LOSSES:
            raise InputError(f"loss {loss!r}: a one-score cross-encoder trains with {' or '.join(SCORE_LOSSES)}",
                             argument="loss")
        return loss
    if loss not in (None, "cross-entropy"):
        raise InputError(f"loss {loss!r}: labelled pairs train a classification head with cross-entropy",
                         argument="loss")
    if len(labels) < 2:
        raise InputError(f"{data_place(data, 'training data')}: every pair has the label {labels[0]!r}; a "
                         "classification head needs at least two labels")
    return "cross-entropy"


__all__ = ["CrossEncoder", "train_cross_encoder", "pair_targets"]
