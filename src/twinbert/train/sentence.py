"""Training a sentence encoder (Sentence-BERT): datasets with their losses, an evaluator, the loop.

`train_sentence_encoder` is what `twinbert train` calls. Everything about the data, the losses and
the evaluation data is read and checked before the model loads.
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import batching
from ..data.spec import DataSpec, parse_score_range
from ..data.spec import load as load_data
from ..encode_options import resolve_prompt
from ..errors import InputError
from ..evaluate.run import prepare
from ..losses import LOSSES, build_loss, loss_class, loss_name
from . import data as train_data
from .checkpoint import data_record, model_id, run_identity
from .distributed import current as current_dist
from .distributed import device_for_rank
from .loop import TrainConfig, TrainResult, fit, merged_metrics
from .objective import Objective
from .output import check_output

HEAD_FOLDER = "softmax_head"


class SentenceObjective(Objective):
    """One dataset and its loss on a SentenceEncoder: every text column of a batch goes through the
    encoder in one forward pass (columns stacked), the loss gets one embedding matrix per column."""

    def __init__(self, encoder, loss, data: train_data.TrainingData):
        super().__init__()
        self.encoder = [encoder]  # a list: the encoder's weights belong to the model, not to this objective
        self.loss_fn = loss
        self.name = data.name
        self.no_duplicates = loss.name == "mnrl"
        transformer = encoder.transformer
        # the model's default prompt (e5's "query: "), as encode() puts it before every text: training sees
        # the inputs that inference and evaluation will give it
        _, prompt = resolve_prompt(encoder, None, None)
        self.tokens = [transformer.tokenize(encoder.apply_prompt(col, prompt)[0]) for col in data.columns]
        self._lengths = [max(len(t.input_ids[i]) for t in self.tokens) for i in range(len(data))]
        self.texts = data.columns
        self.labels = None if data.labels is None else torch.from_numpy(np.asarray(data.labels))
        self.truncated = sum(t.truncated for t in self.tokens)
        self.label_names = data.label_names

    def __len__(self) -> int:
        return len(self._lengths)

    def lengths(self) -> list[int]:
        return self._lengths

    def duplicate_keys(self, i: int) -> tuple:
        return tuple(col[i] for col in self.texts)

    def loss(self, rows: list[int]) -> torch.Tensor:
        encoder = self.encoder[0]
        ids, types = [], []
        for t in self.tokens:
            ids.extend(t.input_ids[i] for i in rows)
            types.extend(t.token_type_ids[i] for i in rows)
        index = np.arange(len(ids))
        input_ids, mask, type_ids = batching.padded(ids, types, index, encoder.transformer.pad_id, encoder.device)
        vectors = encoder(input_ids, mask, type_ids)
        embeddings = list(vectors.split(len(rows)))
        labels = None if self.labels is None else self.labels[rows].to(vectors.device)
        return self.loss_fn(embeddings, labels)


@dataclass
class TrainSpec:
    """One training dataset and its loss."""
    task: str                        # a registered task (stsb, sick-nli ...) or sts|pairs|triplets|nli|texts
    loss: str
    split: str | None = None         # default: train
    data: str | None = None          # a file (required for the generic tasks)
    columns: list | str | None = None  # column names or 0-based indexes of the data file, joined by commas (pairs
    # with two columns = unlabelled pairs, for mnrl or mse)
    score_range: tuple | str | None = None  # LOW,HIGH of the scores in the data file (default 0,5)
    margin: float | None = None      # triplet / contrastive margin (defaults 1 / 0.5)
    distance: str | None = None      # triplet / contrastive distance: euclidean, manhattan or cosine
    scale: float | None = None       # multiple-negatives / CoSENT scale (default 20)
    concat_product: bool = False     # softmax loss: add u*v to (u, v, |u-v|)
    matryoshka: list[int] | None = None  # train nested dimensions too, e.g. 384,256,128,64
    limit: int | None = None         # use the first N training rows only (quick runs)

    def data_spec(self, data_root=None, skip_bad_rows: bool = False) -> DataSpec:
        """The data of this spec (twinbert.data.spec), checked now."""
        return DataSpec(self.task, split=self.split, path=self.data, columns=self.columns,
                        score_range=self.score_range, limit=self.limit, skip_bad_rows=skip_bad_rows,
                        data_root=data_root)


def read_training_data(spec: TrainSpec, data_root=None, skip_bad_rows: bool = False):
    """(the Dataset of `spec`, the score range to scale a file's sts scores by, else None)."""
    data = spec.data_spec(data_root, skip_bad_rows)
    dataset = load_data(data, split="train")
    # the user's own sts file is scaled by its declared range; a task's scores by the task's own range
    return dataset, dataset.score_range if data.task == "sts" else None


def parse_eval(spec: str, data_root=None):
    """'stsb:dev' -> an EvalJob (read and checked now, from `data_root` like the training data)."""
    task, _, split = spec.partition(":")
    return prepare(task, split or None, data_root=data_root)


def train_sentence_encoder(model, specs: list[TrainSpec], config: TrainConfig, output, *,
                           evals: list[str] = (), teacher=None, resume: bool = False, overwrite: bool = False,
                           device: str | None = None, data_root=None, skip_bad_rows: bool = False,
                           max_seq_length: int | None = None, show_progress: bool = True,
                           trust_remote_code: bool = False) -> TrainResult:
    """Fine-tune `model` (a folder, name or SentenceEncoder) on the datasets of `specs`, each with its
    loss; evaluate on `evals` ("task:split", the first gives the main metric); write the model, log,
    curve and card to `output`."""
    from .. import SentenceEncoder, load

    if not specs:
        raise InputError("specs is empty: nothing to train; give at least one TrainSpec(task, loss)", argument="specs")
    config = config.checked()
    output = check_output(output, resume, overwrite, sources=[model])
    # 1. data and evaluation data, checked before anything heavy
    losses_named = [loss_name(s.loss) for s in specs]
    datasets = [read_training_data(s, data_root, skip_bad_rows) for s in specs]
    for s, name, (dataset, _) in zip(specs, losses_named, datasets):
        _check_shape(s, name, dataset)
    distilled = [name for name in losses_named if loss_class(name).label_kind == "vector"]
    if distilled and teacher is None:
        raise InputError(f"loss {distilled[0]!r} (distillation) needs teacher, the model whose embeddings to "
                         "imitate", argument="teacher")
    jobs = [parse_eval(e, data_root) for e in evals]
    # 2. model, losses, objectives
    device = device_for_rank(device)
    encoder = model if isinstance(model, SentenceEncoder) else load(model, device=device,
                                                                   trust_remote_code=trust_remote_code)
    inference_length = encoder.max_seq_length  # saved with the model: max_seq_length is the training length only
    if max_seq_length is not None:
        encoder.max_seq_length = max_seq_length
    torch.manual_seed(config.seed)  # the same fresh loss heads (softmax classifier) in every process
    objectives, cards = _objectives(encoder, specs, losses_named, datasets, teacher, device)
    head, head_labels = _softmax_head(objectives)
    # what a resume must find unchanged: the model, every data file and its rows, the losses, the labels
    eval_records = [data_record(job.dataset, "eval") for job in jobs]
    losses = [{"task": s.task, "loss": name, "score_range": list(score_range) if score_range else None,
               **_loss_options(s)} for s, name, (_, score_range) in zip(specs, losses_named, datasets)]
    run = run_identity(model, [c["data"] for c in cards], eval_records, losses=losses, labels=head_labels,
                       teacher=None if teacher is None else model_id(teacher), max_seq_length=encoder.max_seq_length)
    evaluate = functools.partial(_evaluate_all, encoder, jobs, head, head_labels) if jobs else None
    main = jobs[0].main_metric if jobs else None
    started = dt.datetime.now(dt.timezone.utc)
    before = evaluate() if evaluate is not None and not resume and current_dist().is_main else None
    card = functools.partial(_card, encoder, cards, config, list(evals), main, before, started, eval_records)
    return fit(encoder, objectives, config, output, save_model=functools.partial(_save, encoder, head, head_labels, inference_length),
               evaluate=evaluate, main_metric=main, card=card, resume=resume, show_progress=show_progress, run=run)


def _objectives(encoder, specs: list[TrainSpec], losses_named: list[str], datasets: list, teacher,
                device) -> tuple[list[SentenceObjective], list[dict]]:
    """One SentenceObjective per dataset with its loss, and what the model card says of each."""
    objectives, cards = [], []
    for s, name, (dataset, score_range) in zip(specs, losses_named, datasets):
        probe = build_loss(name, dimension=encoder.dimension, num_labels=3, margin=s.margin, distance=s.distance,
                           scale=s.scale, concat_product=s.concat_product, matryoshka=s.matryoshka)
        prepared = train_data.prepare(dataset, probe, score_range=score_range)
        loss = probe if probe.label_kind != "class" else build_loss(
            name, dimension=encoder.dimension, num_labels=prepared.num_labels, concat_product=s.concat_product)
        if loss.label_kind == "vector":  # the teacher's vectors are the labels
            prepared = train_data.with_targets(prepared, _teacher_targets(teacher, prepared.columns[0], device))
            if loss is probe and prepared.labels.shape[1] != encoder.dimension:
                raise InputError(f"teacher gives {prepared.labels.shape[1]}-dim vectors but the student's are "
                                 f"{encoder.dimension}-dim; distillation needs the same dimension", argument="teacher")
        objective = SentenceObjective(encoder, loss, prepared)
        objectives.append(objective)
        cards.append({"data": prepared.source, "loss": name, "loss_class": type(loss).__name__,
                      "options": _loss_options(s), "rows": len(prepared), "truncated": objective.truncated})
    return objectives, cards


def _evaluate_all(encoder, jobs: list, head, head_labels) -> dict:
    return merged_metrics((f"{job.task}:{job.split}", _evaluate(encoder, job, head, head_labels)) for job in jobs)


def _evaluate(encoder, job, head, head_labels) -> dict:
    from ..evaluate.nli_head import evaluate_nli_head
    from ..evaluate.run import evaluate_dataset

    result = evaluate_dataset(encoder, job.dataset, job.evaluation, dev=job.dev)
    if head is not None and job.dataset.kind == "nli":  # NLI accuracy through the trained classifier
        result.update(evaluate_nli_head(encoder, head.loss_fn, job.dataset, head_labels))
    return result


def _card(encoder, cards: list[dict], config: TrainConfig, evals: list[str], main: str | None, before: dict | None,
          started: dt.datetime, eval_records: list[dict], result: TrainResult) -> str:
    from .card import model_card

    return model_card(encoder, cards, config, result, evals=evals, main_metric=main, before=before, started=started,
                      eval_data=eval_records)


def _save(encoder, head, head_labels, inference_length: int, folder: Path) -> None:
    # a model trained on short windows still reads what its position table allows: saving the training length
    # would cut every longer text of its users (ko-twinbert-small was published at 64 tokens that way)
    training_length, encoder.max_seq_length = encoder.max_seq_length, inference_length
    try:
        encoder.save(folder)
    finally:
        encoder.max_seq_length = training_length
    if head is not None:  # the NLI classifier trained beside the encoder, for NLI predictions
        head.loss_fn.save(folder / HEAD_FOLDER, head_labels)


def _loss_options(spec: TrainSpec) -> dict:
    """The loss options set in `spec` (an explicit 0 counts: margin=0 is not the default margin)."""
    return {k: getattr(spec, k) for k in ("margin", "distance", "scale", "concat_product", "matryoshka")
            if getattr(spec, k) is not None and getattr(spec, k) is not False}


def _softmax_head(objectives):
    """The first objective trained with a classifier loss (label kind "class": softmax) on named labels,
    and those labels."""
    for o in objectives:
        if o.loss_fn.label_kind == "class" and o.label_names:
            return o, o.label_names
    return None, None


def _check_shape(spec: TrainSpec, name: str, dataset) -> None:
    """Fail before loading the model when a loss cannot use this data's shape."""
    build = build_loss(name, dimension=8, num_labels=3, margin=spec.margin, distance=spec.distance, scale=spec.scale)
    train_data.prepare(dataset, build, score_range=None if build.label_kind != "score" else
                       _range(spec, dataset))


def _range(spec: TrainSpec, dataset):
    if spec.score_range is not None:
        return parse_score_range(spec.score_range)
    return getattr(dataset, "score_range", None)


def _teacher_targets(teacher, texts: list[str], device) -> np.ndarray:
    from .. import SentenceEncoder, load

    encoder = teacher if isinstance(teacher, SentenceEncoder) else load(teacher, device=device)
    return encoder.encode(texts, convert_to="numpy")


__all__ = ["SentenceObjective", "TrainSpec", "train_sentence_encoder", "LOSSES"]
