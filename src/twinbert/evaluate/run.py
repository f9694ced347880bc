"""Task -> evaluator -> result document: what `twinbert eval` and `twinbert sweep` call.

What each task is evaluated as (every task of twinbert.data.list_tasks() by its kind; EVALUATIONS below):

  kind                  tasks                                   evaluation
  sts                   stsb, korsts, sick, klue-sts            sts: Pearson / Spearman, 4 similarities
  pair-classification   mrpc, rte                               binary: best thresholds, AP, MCC
  nli                   snli, mnli, kornli, klue-nli, sick-nli  triplet: accuracy on (premise,
                                                                entailment, contradiction) triplets
  retrieval             cranfield                               retrieval: MRR, nDCG, MAP, recall ...
  classification        nsmc, sst2                              error: single-text classification
                                                                needs a trained classifier head
  text                  wikitext2                               error: unlabelled text (masked-LM data)

NLI here measures the sentence vectors alone (no classifier head): an encoder that places an entailed
hypothesis nearer to its premise than a contradicting one scores high. A trained NLI head is scored
with twinbert.evaluate.classification.nli_metrics on its predictions.

Your own files (data=FILE, the formats of twinbert.data.spec): sts -> sts, pairs (labels 0 / 1) ->
binary, triplets and nli -> triplet. A registered task with data=FILE reads that file with the task's
own reader.

Everything about the data (file, columns, rows, scores, labels, split, task) is checked before the
model is loaded and before anything is encoded; a problem is an InputError naming it.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..data.spec import DataSpec, load
from ..errors import InputError
from ._common import clean
from .binary import MAIN_METRIC as BINARY_MAIN
from .binary import binary_labels, evaluate_binary
from .document import data_record, document, encode_settings
from .output import output_path, plot_path, write_json
from .retrieval import MAIN_METRIC as RETRIEVAL_MAIN
from .retrieval import check_collection, evaluate_retrieval
from .sts import MAIN_METRIC as STS_MAIN
from .sts import check_sts, evaluate_sts
from .triplet import MAIN_METRIC as TRIPLET_MAIN
from .triplet import as_triplets, evaluate_triplets


@dataclass(frozen=True)
class Evaluation:
    """One evaluator: the kinds of data it scores, its data check (run before any encoding), the
    evaluator itself and its main metric."""

    name: str
    kinds: tuple[str, ...]
    check: Callable
    evaluate: Callable  # (encoder, dataset, **options) -> metrics
    main_metric: str


# the registry: a task's data (twinbert.data.spec) has a kind, and the kind picks the evaluation
EVALUATIONS = {e.name: e for e in (
    Evaluation("sts", ("sts",), check_sts, evaluate_sts, STS_MAIN),
    Evaluation("binary", ("pair-classification", "pairs"), binary_labels, evaluate_binary, BINARY_MAIN),
    Evaluation("triplet", ("nli", "triplets"), as_triplets, evaluate_triplets, TRIPLET_MAIN),
    Evaluation("retrieval", ("retrieval",), check_collection, evaluate_retrieval, RETRIEVAL_MAIN),
)}
# the kinds of data sentence vectors alone cannot be scored on, and why
NOT_EVALUATED = {
    "classification": "is single-text classification: sentence vectors alone give no label; it needs a trained "
                      "classifier head (score its predictions with "
                      "twinbert.evaluate.classification.classification_report)",
    "text": "is unlabelled text (masked-LM data): there is nothing to score sentence vectors against",
}
# an evaluation's own options: the evaluation that takes each, and what it is for
OPTIONS = {
    "plot": ("sts", "plots exist for STS tasks (cosine vs gold scatter) and for twinbert sweep (heat-map)"),
    "index": ("retrieval", "it applies only to retrieval tasks (e.g. cranfield)"),
    "mode": ("retrieval", "it applies only to retrieval tasks (korquad, korquad-docs, cranfield)"),
    **{name: ("retrieval", "chunking applies to retrieval of documents (e.g. korquad-docs)")
       for name in ("chunking", "chunk_tokens", "overlap")},
    **{name: ("binary", "threshold data applies to pair classification (mrpc, rte, pairs) only")
       for name in ("dev", "threshold_split", "threshold_data")},
}


@dataclass
class EvalJob:
    """A task resolved and its data read and checked, ready to encode."""

    task: str
    split: str | None
    evaluation: str
    dataset: object
    dev: object = None  # pair classification: the data the thresholds are chosen on

    @property
    def main_metric(self) -> str:
        return EVALUATIONS[self.evaluation].main_metric


def evaluation_of(kind: str | None, task: str) -> Evaluation:
    """The evaluation of data of `kind`, or an InputError saying why it has none."""
    found = next((e for e in EVALUATIONS.values() if kind in e.kinds), None)
    if found is None:
        raise InputError(f"task {task!r} (kind {kind}) {NOT_EVALUATED.get(kind, 'cannot be evaluated')}")
    return found


def check_options(what: str, evaluation: str, **options) -> None:
    """Each option given (plot, index, dev ...) must belong to `evaluation`."""
    for name, value in options.items():
        owner, reason = OPTIONS[name]
        if value is not None and owner != evaluation:
            raise InputError(f"{name}: {what} is evaluated as {evaluation}; {reason}", argument=name)


# ------------------------------------------------------------------ data
def prepare(task: str, split: str | None = None, *, data=None, columns=None, score_range=None,
            data_root=None, skip_bad_rows: bool = False, limit: int | None = None,
            threshold_split: str | None = None, threshold_data=None) -> EvalJob:
    """Resolve the task, read and check its data (and the threshold data of a pair task)."""
    spec = DataSpec(task, split=split, path=data, columns=columns, score_range=score_range, limit=limit,
                    skip_bad_rows=skip_bad_rows, data_root=data_root)
    registered = spec.registered
    if registered is None and threshold_split is not None:
        raise InputError("threshold_split applies to registered tasks; for a file give threshold_data=FILE",
                         argument="threshold_split")
    if registered is not None:
        if columns is not None or score_range is not None:  # they would be silently ignored
            culprit = "columns" if columns is not None else "score_range"
            raise InputError(f"{culprit} applies to your own files (tasks sts, pairs, triplets, nli); "
                             f"task {spec.task!r} has a fixed format", argument=culprit)
        evaluation_of(registered.kind, spec.task)  # before reading: sst2 fails now, not after the read
    dataset = load(spec)
    evaluation = evaluation_of(dataset.kind, spec.task)
    check_options(f"task {spec.task!r}", evaluation.name, threshold_split=threshold_split,
                  threshold_data=threshold_data)
    dev = None
    if threshold_split is not None:
        dev = load(dataclasses.replace(spec, split=threshold_split, path=None, limit=None))
    elif threshold_data is not None:
        dev = load(dataclasses.replace(spec, split=None, path=threshold_data, limit=None))
    for checked in (dataset, dev):
        if checked is not None:
            evaluation.check(checked)
    return EvalJob(spec.task, dataset.split or None, evaluation.name, dataset, dev)


# ------------------------------------------------------------------ evaluate
def evaluate_dataset(encoder, dataset, evaluation: str | None = None, *, dev=None, plot=None, index=None,
                     mode=None, fusion_data=None, details=None, chunking: dict | None = None,
                     **encode_options) -> dict[str, float]:
    """Run the evaluator of `evaluation` (default: from dataset.kind) on `dataset`; `chunking` (retrieval
    only): {"chunking", "chunk_tokens", "overlap"} (twinbert.evaluate.chunked); `index` (retrieval
    only): "flat", "hnsw" or "ivf", the search behind the ranking; `mode` (retrieval only): "dense",
    "lexical" or "hybrid", the fusion tuned on `fusion_data`'s queries, `details` filled with what was
    used (twinbert.evaluate.retrieval)."""
    if evaluation is None:
        evaluation = evaluation_of(getattr(dataset, "kind", None), getattr(dataset, "name", "data")).name
    if evaluation not in EVALUATIONS:
        raise InputError(f"evaluation {evaluation!r}: expected one of {', '.join(EVALUATIONS)}",
                         argument="evaluation")
    given = {"dev": dev, "plot": plot, "index": index, "mode": mode, **(chunking or {})}
    check_options("this data", evaluation, **given)  # so what is given is this evaluation's own
    own = {name: value for name, value in given.items() if value is not None}
    if mode is not None:
        own.update(fusion_data=fusion_data, details=details)
    elif chunking:
        own.update(details=details)
    return EVALUATIONS[evaluation].evaluate(encoder, dataset, **own, **encode_options)


def _load(model, device, precision, trust_remote_code):
    if not isinstance(model, (str, Path)):
        return model
    from ..encoder import load as load_encoder

    return load_encoder(model, device=device, precision=precision or "float32", trust_remote_code=trust_remote_code)


def _finish(doc: dict, path: Path | None) -> dict:
    if path is not None:
        write_json(doc, path)
        doc["output"] = str(path)
    return doc


def run_eval(model, task: str, split: str | None = None, *, data=None, columns=None, score_range=None,
             data_root=None, skip_bad_rows: bool = False, limit: int | None = None,
             threshold_split: str | None = None, threshold_data=None, pooling=None, layers=None,
             normalize: bool | None = None, batch_tokens: int | None = None, device: str | None = None,
             precision: str | None = None, trust_remote_code: bool = False, output=None, plot=None,
             index: str | None = None, prompt_name: str | None = None, prompt: str | None = None,
             mode: str | None = None, chunking: str | None = None, chunk_tokens: int | None = None,
             overlap: int | None = None) -> dict:
    """Evaluate a model (folder, name or SentenceEncoder) on a task; returns the result document
    {"task", "split", "evaluation", "metrics", "main_metric", "model", "data": {path, sha256, ...},
    "versions", "settings": {pooling, layers, precision, device, ..., seconds}, "plots", "date"} and
    writes it to `output` (JSON) when given. Data and output paths are checked before the model loads.
    index: retrieval tasks, the search behind the ranking: "flat" (exact, default), "hnsw" or "ivf".
    prompt_name / prompt: as for encode (default: the model's default prompt); recorded in "settings".
    mode: retrieval tasks: "dense" (default), "lexical" (BM25) or "hybrid"; hybrid on a registered task
    with a dev split chooses its fusion on the dev queries (Index.tune_fusion) and reports the asked
    split; "settings" records the mode, the lexical settings and the fusion.
    chunking: retrieval of long documents: "none" (each document cut at max_seq_length), "chunks" or "late"
    (twinbert.evaluate.chunked), chunks of chunk_tokens tokens with overlap; "settings" records "chunking".
    """
    start = time.perf_counter()
    job = prepare(task, split, data=data, columns=columns, score_range=score_range, data_root=data_root,
                  skip_bad_rows=skip_bad_rows, limit=limit, threshold_split=threshold_split,
                  threshold_data=threshold_data)
    check_options(f"task {job.task!r}", job.evaluation, plot=plot, index=index, mode=mode, chunking=chunking,
                  chunk_tokens=chunk_tokens, overlap=overlap)
    asked = {"chunking": chunking, "chunk_tokens": chunk_tokens, "overlap": overlap}
    chunked = {k: v for k, v in asked.items() if v is not None and v != "none"}
    fusion_data = _fusion_data(job, mode, data_root)
    plot_file = plot_path(plot, f"{job.task}-{job.split or job.dataset.name}-scatter")
    output_file = output_path(output)
    encoder = _load(model, device, precision, trust_remote_code)
    loaded = time.perf_counter()
    options = {"pooling": pooling, "layers": layers, "normalize": normalize, "batch_tokens": batch_tokens,
               "prompt_name": prompt_name, "prompt": prompt}
    details: dict = {}
    metrics = evaluate_dataset(encoder, job.dataset, job.evaluation, dev=job.dev, plot=plot_file, index=index,
                               mode=mode, fusion_data=fusion_data, details=details, chunking=chunked, **options)
    if chunking is not None and job.evaluation == "retrieval":
        details.setdefault("chunking", "none")  # the JSON names the chunking used, "none" = truncation
    done = time.perf_counter()
    settings = {**encode_settings(encoder, options, done - start), **({"index": index} if index is not None else {}),
                **details}
    main = job.main_metric if mode in (None, "dense") else f"{mode}_{job.main_metric.split('_', 1)[1]}"
    doc = document(job, {"metrics": {k: clean(v) for k, v in metrics.items()}, "main_metric": main},
                   encoder=encoder, model=model, settings=settings, times=(start, loaded, done), plot=plot_file)
    if job.evaluation == "triplet":
        count = len(as_triplets(job.dataset))
        doc["data"]["triplets"] = count
        if count < 50:
            doc["notes"] = [f"only {count} triplets: few premises of this data have both an entailment and a "
                            "contradiction hypothesis, so the accuracy is a rough figure (a larger split gives more)"]
    if job.dev is not None:
        doc["data"]["thresholds_from"] = data_record(job.dev)
    return _finish(doc, output_file)


def _fusion_data(job: EvalJob, mode: str | None, data_root):
    """The queries a hybrid evaluation tunes its fusion on: the dev split of a registered task that has one."""
    from ..data.tasks import TASKS

    spec = TASKS.get(job.task)
    if mode != "hybrid" or spec is None or "dev" not in spec.splits or job.split not in spec.splits:
        return None
    return prepare(job.task, "dev", data_root=data_root).dataset


def run_sweep(model, task: str, split: str | None = None, *, data=None, columns=None, score_range=None,
              data_root=None, skip_bad_rows: bool = False, limit: int | None = None, poolings=None,
              batch_tokens: int | None = None, device: str | None = None, precision: str | None = None,
              trust_remote_code: bool = False, output=None, plot=None) -> dict:
    """The pooling x layer sweep of a model on an STS task, as a result document like run_eval's, with
    "table", "columns", "poolings" and "best" (see twinbert.evaluate.sweep)."""
    from ..modules.pooling import parse_modes
    from .sweep import POOLINGS, pooling_layer_sweep

    start = time.perf_counter()
    job = prepare(task, split, data=data, columns=columns, score_range=score_range, data_root=data_root,
                  skip_bad_rows=skip_bad_rows, limit=limit)
    if job.evaluation != "sts":
        raise InputError(f"the sweep scores STS data (scored pairs); task {job.task!r} is evaluated as "
                         f"{job.evaluation}")
    if poolings is not None:
        poolings = parse_modes(poolings.split(",") if isinstance(poolings, str) else poolings)
    plot_file = plot_path(plot, f"{job.task}-{job.split or job.dataset.name}-sweep")
    output_file = output_path(output)
    encoder = _load(model, device, precision, trust_remote_code)
    loaded = time.perf_counter()
    result = pooling_layer_sweep(encoder, job.dataset, poolings=poolings or POOLINGS, plot=plot_file,
                                 batch_tokens=batch_tokens)
    done = time.perf_counter()
    settings = {**encode_settings(encoder, {"batch_tokens": batch_tokens}, done - start),
                "pooling": "swept", "layers": "swept"}
    doc = document(dataclasses.replace(job, evaluation="sweep"), result, encoder=encoder, model=model,
                   settings=settings, times=(start, loaded, done), plot=plot_file)
    return _finish(doc, output_file)
