"""Task name -> evaluator, and the result document (`twinbert eval` / `twinbert sweep` call these).

What each task is evaluated as (every task of twinbert.data.list_tasks() by its kind):

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

Generic files (data=FILE, CSV / TSV / JSONL, `columns` names or 0-based indexes in this order):
  sts       sentence1, sentence2, score   (scores inside score_range, default 0..5)
  pairs     sentence1, sentence2, label   (labels 0 / 1, 1 = positive) -> binary
  triplets  anchor, positive, negative                                 -> triplet
  nli       premise, hypothesis, label    (entailment / neutral / contradiction) -> triplet
A registered task with data=FILE reads that file with the task's own reader.

Everything about the data (file, columns, rows, scores, labels, split, task) is checked before the
model is loaded and before anything is encoded; a problem is an InputError naming it.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, OutputError

EVALUATIONS = ("sts", "binary", "triplet", "retrieval")
KIND_EVALUATION = {"sts": "sts", "pair-classification": "binary", "pairs": "binary", "nli": "triplet",
                   "triplets": "triplet", "retrieval": "retrieval"}
NOT_EVALUATED = {
    "classification": "is single-text classification: sentence vectors alone give no label; it needs a "
                      "trained classifier head (score its predictions with "
                      "twinbert.evaluate.classification.classification_report)",
    "text": "is unlabelled text (masked-LM data): there is nothing to score sentence vectors against",
}
GENERIC_TASKS = {  # name -> (default columns, roles, kind)
    "sts": (("sentence1", "sentence2", "score"), ("sentence1", "sentence2", "score"), "sts"),
    "pairs": (("sentence1", "sentence2", "label"), ("sentence1", "sentence2", "label"), "pairs"),
    "triplets": (("anchor", "positive", "negative"), ("anchor", "positive", "negative"), "triplets"),
    "nli": (("premise", "hypothesis", "label"), ("sentence1", "sentence2", "label"), "nli"),
}
DEFAULT_SCORE_RANGE = (0.0, 5.0)
SPLIT_PREFERENCE = ("test", "dev", "dev_matched", "trial", "valid")


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
        return _module(self.evaluation).MAIN_METRIC


def _module(evaluation: str):
    from . import binary, retrieval, sts, triplet

    return {"sts": sts, "binary": binary, "triplet": triplet, "retrieval": retrieval}[evaluation]


# ------------------------------------------------------------------ arguments
def parse_columns(columns) -> list:
    """'a,b,score' -> ['a', 'b', 'score']; '0,1,4' -> [0, 1, 4] (a file without header)."""
    items = [c.strip() for c in columns.split(",")] if isinstance(columns, str) else list(columns)
    if not items or any(isinstance(c, str) and not c for c in items):
        raise InputError(f"columns {columns!r}: expected names or 0-based indexes joined by commas, e.g. "
                         "sentence1,sentence2,score", argument="columns")
    if all(isinstance(c, int) or (isinstance(c, str) and c.isdigit()) for c in items):
        return [int(c) for c in items]
    return [str(c) for c in items]


def parse_score_range(value) -> tuple[float, float]:
    if value is None:
        return DEFAULT_SCORE_RANGE
    try:
        low, high = (float(v) for v in (value.split(",") if isinstance(value, str) else value))
    except (TypeError, ValueError):
        raise InputError(f"score_range {value!r}: expected two numbers LOW,HIGH, e.g. 0,5",
                         argument="score_range") from None
    if not low < high:
        raise InputError(f"score_range {value!r}: expected LOW < HIGH, e.g. 0,5", argument="score_range")
    return low, high


def default_split(spec) -> str:
    for name in SPLIT_PREFERENCE:
        if name in spec.splits:
            return name
    return next(iter(spec.splits))


def task_names() -> list[str]:
    from ..data.tasks import TASKS

    return list(TASKS) + list(GENERIC_TASKS)


# ------------------------------------------------------------------ data
def _read_generic(task: str, path, columns, score_range, skip_bad_rows: bool):
    from ..data import read_pairs, read_triplets
    from ..data._io import NLI_LABELS

    defaults, roles, kind = GENERIC_TASKS[task]
    cols = parse_columns(columns) if columns is not None else list(defaults)
    if len(cols) != len(roles):
        raise InputError(f"columns {','.join(map(str, cols))}: {len(cols)} given, task {task!r} needs {len(roles)}: "
                         f"{', '.join(defaults)} (names from the header, or 0-based indexes)", argument="columns")
    mapping = dict(zip(roles, cols))
    if task == "triplets":
        dataset = read_triplets(path, mapping, skip_bad_rows=skip_bad_rows)
    elif task == "sts":
        dataset = read_pairs(path, mapping, score_range=parse_score_range(score_range), skip_bad_rows=skip_bad_rows)
    else:
        labels = NLI_LABELS if task == "nli" else ["0", "1"]
        dataset = read_pairs(path, mapping, labels=labels, skip_bad_rows=skip_bad_rows)
    return dataclasses.replace(dataset, name=Path(path).stem, split="", kind=kind)


def _limit(dataset, limit: int | None):
    if limit is None:
        return dataset
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InputError(f"limit {limit!r}: expected a positive number of examples", argument="limit")
    if dataset.kind == "retrieval":
        from ..data.examples import RetrievalData

        data = dataset.retrieval
        keep = [q for q in data.queries if data.relevant.get(q)][:limit]
        data = RetrievalData({q: data.queries[q] for q in keep}, data.corpus,
                             {q: data.relevant[q] for q in keep}, {q: data.grades.get(q, {}) for q in keep})
        return dataclasses.replace(dataset, examples=[data])
    return dataclasses.replace(dataset, examples=dataset.examples[:limit])


def _check(evaluation: str, dataset) -> None:
    """The evaluator's own checks, run before any encoding."""
    from . import binary, retrieval, sts, triplet

    if evaluation == "sts":
        sts.check_sts(dataset)
    elif evaluation == "binary":
        binary.binary_labels(dataset)
    elif evaluation == "triplet":
        triplet.as_triplets(dataset)
    else:
        retrieval.check_collection(dataset)


def prepare(task: str, split: str | None = None, *, data=None, columns=None, score_range=None,
            data_root=None, skip_bad_rows: bool = False, limit: int | None = None,
            threshold_split: str | None = None, threshold_data=None) -> EvalJob:
    """Resolve the task, read and check its data (and the threshold data of a pair task)."""
    from ..data.tasks import TASKS, get_task, load_task

    name = task.strip().lower() if isinstance(task, str) else task
    if name in GENERIC_TASKS:
        if data is None:
            raise InputError(f"task {name!r} reads your own file: give data=FILE (columns "
                             f"{','.join(GENERIC_TASKS[name][0])}, or name yours with columns=...)", argument="data")
        if split is not None:
            raise InputError(f"split {split!r}: task {name!r} reads the file you give it; drop split",
                             argument="split")
        if threshold_split is not None:
            raise InputError("threshold_split applies to registered tasks; for a file give threshold_data=FILE",
                             argument="threshold_split")
        dataset = _read_generic(name, data, columns, score_range, skip_bad_rows)
        dev = _read_generic(name, threshold_data, columns, score_range, skip_bad_rows) if threshold_data else None
    elif name in TASKS:
        spec = get_task(name)
        if columns is not None or score_range is not None:
            culprit = "columns" if columns is not None else "score_range"
            raise InputError(f"{culprit} applies to your own files (tasks {', '.join(GENERIC_TASKS)}); "
                             f"task {name!r} has a fixed format", argument=culprit)
        if spec.kind in NOT_EVALUATED:
            raise InputError(f"task {name!r} (kind {spec.kind}) {NOT_EVALUATED[spec.kind]}")
        if data is not None:
            if split is not None:
                raise InputError(f"split {split!r}: the file you give is what is evaluated; drop split",
                                 argument="split")
            path = Path(data)
            if not path.exists():
                raise InputError(f"{path}: not found; expected a {name} file")
            dataset = dataclasses.replace(spec.reader(path, skip_bad_rows=skip_bad_rows), name=name,
                                          split=path.name, kind=spec.kind)
        else:
            dataset = load_task(name, split or default_split(spec), root=data_root, skip_bad_rows=skip_bad_rows)
        dev = None
        if threshold_split is not None:
            dev = load_task(name, threshold_split, root=data_root, skip_bad_rows=skip_bad_rows)
        elif threshold_data is not None:
            dev = dataclasses.replace(spec.reader(Path(threshold_data), skip_bad_rows=skip_bad_rows), name=name,
                                      split=Path(threshold_data).name, kind=spec.kind)
    else:
        raise InputError(f"task {task!r}: unknown; expected one of {', '.join(task_names())}")
    evaluation = KIND_EVALUATION.get(dataset.kind)
    if evaluation is None:
        raise InputError(f"task {name!r}: data of kind {dataset.kind!r} cannot be evaluated")
    if dev is not None and evaluation != "binary":
        raise InputError(f"task {name!r} is evaluated as {evaluation}; threshold data applies to pair "
                         "classification (mrpc, rte, pairs) only")
    dataset = _limit(dataset, limit)
    _check(evaluation, dataset)
    if dev is not None:
        _check(evaluation, dev)
    return EvalJob(name, dataset.split or None, evaluation, dataset, dev)


# ------------------------------------------------------------------ evaluate
def evaluate_dataset(encoder, dataset, evaluation: str | None = None, *, dev=None, plot=None, index=None,
                     **encode_options) -> dict[str, float]:
    """Run the evaluator of `evaluation` (default: from dataset.kind) on `dataset`; `index` (retrieval
    only): "flat", "hnsw" or "ivf", the search behind the ranking."""
    from .binary import evaluate_binary
    from .retrieval import evaluate_retrieval
    from .sts import evaluate_sts
    from .triplet import evaluate_triplets

    evaluation = evaluation or KIND_EVALUATION.get(getattr(dataset, "kind", None))
    if evaluation not in EVALUATIONS:
        raise InputError(f"evaluation {evaluation!r}: expected one of {', '.join(EVALUATIONS)}")
    if plot is not None and evaluation != "sts":
        raise InputError(f"plots exist for STS tasks (a scatter of cosine vs gold); this is {evaluation}")
    if dev is not None and evaluation != "binary":
        raise InputError("threshold data (dev) applies to binary pair classification only")
    if index is not None and evaluation != "retrieval":
        raise InputError(f"index applies to retrieval tasks (e.g. cranfield); this is {evaluation}", argument="index")
    if evaluation == "sts":
        return evaluate_sts(encoder, dataset, plot=plot, **encode_options)
    if evaluation == "binary":
        return evaluate_binary(encoder, dataset, dev=dev, **encode_options)
    if evaluation == "triplet":
        return evaluate_triplets(encoder, dataset, **encode_options)
    return evaluate_retrieval(encoder, dataset, index=index or "flat", **encode_options)


def _plot_path(plot, job: EvalJob, suffix: str) -> Path | None:
    """--plot FILE.png, or a folder (created if missing) that gets <task>-<split>-<suffix>.png."""
    if plot is None:
        return None
    from ..plots import _pyplot

    _pyplot()  # matplotlib missing: say so now, not after encoding
    path = Path(plot)
    if path.suffix.lower() != ".png":
        if path.exists() and not path.is_dir():
            raise OutputError(f"{path}: plot expects a .png file name or a folder", argument="plot")
        path.mkdir(parents=True, exist_ok=True)
        path = path / f"{job.task}-{job.split or job.dataset.name}-{suffix}.png"
    if not path.parent.is_dir():
        raise OutputError(f"{path}: cannot write the plot, folder {path.parent} does not exist")
    return path


def _check_output(output) -> Path | None:
    if output is None:
        return None
    path = Path(output)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; output expects a file name such as results.json", argument="output")
    if not path.parent.is_dir():
        raise OutputError(f"{path}: cannot write, folder {path.parent} does not exist")
    return path


def versions() -> dict[str, str]:
    import torch
    import transformers

    from .. import __version__

    return {"twinbert": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "python": platform.python_version()}


def _data_record(dataset) -> dict:
    record = {"name": dataset.name, "path": str(dataset.path), "sha256": dataset.sha256,
              "rows": len(dataset.examples), "skipped_rows": len(dataset.skipped)}
    if dataset.kind == "retrieval":
        data = dataset.retrieval
        record.update(rows=None, queries=sum(1 for q in data.queries if data.relevant.get(q)), corpus=len(data.corpus))
    return record


def _settings(encoder, options: dict, seconds: float) -> dict:
    from .. import batching
    from ..modules.pooling import parse_modes

    settings = encoder.settings() if hasattr(encoder, "settings") else {}
    if options.get("pooling") is not None:
        settings["pooling"] = "+".join(parse_modes(options["pooling"]))
    settings["layers"] = options.get("layers") or "last"
    if options.get("normalize") is not None:
        settings["normalize"] = bool(options["normalize"])
    settings["batch_tokens"] = options.get("batch_tokens") or batching.DEFAULT_BATCH_TOKENS
    if options.get("precision"):
        settings["precision"] = options["precision"]
    settings["seconds"] = round(seconds, 3)
    return settings


def _load(model, device, precision, trust_remote_code):
    if not isinstance(model, (str, Path)):
        return model
    from ..encoder import load

    return load(model, device=device, precision=precision or "float32", trust_remote_code=trust_remote_code)


def write_json(document: dict, path) -> Path:
    from ..formats.atomic import atomic_file

    with atomic_file(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    return Path(path)


def run_eval(model, task: str, split: str | None = None, *, data=None, columns=None, score_range=None,
             data_root=None, skip_bad_rows: bool = False, limit: int | None = None,
             threshold_split: str | None = None, threshold_data=None, pooling=None, layers=None,
             normalize: bool | None = None, batch_tokens: int | None = None, device: str | None = None,
             precision: str | None = None, trust_remote_code: bool = False, output=None, plot=None,
             index: str | None = None) -> dict:
    """Evaluate a model (folder, name or SentenceEncoder) on a task; returns the result document
    {"task", "split", "evaluation", "metrics", "main_metric", "model", "data": {path, sha256, ...},
    "versions", "settings": {pooling, layers, precision, device, ..., seconds}, "plots", "date"} and
    writes it to `output` (JSON) when given. Data and output paths are checked before the model loads.
    index: retrieval tasks, the search behind the ranking: "flat" (exact, default), "hnsw" or "ivf".
    """
    start = time.perf_counter()
    job = prepare(task, split, data=data, columns=columns, score_range=score_range, data_root=data_root,
                  skip_bad_rows=skip_bad_rows, limit=limit, threshold_split=threshold_split,
                  threshold_data=threshold_data)
    if plot is not None and job.evaluation != "sts":
        raise InputError(f"plot: task {job.task!r} is evaluated as {job.evaluation}; plots exist for STS "
                         "tasks (cosine vs gold scatter) and for twinbert sweep (heat-map)", argument="plot")
    if index is not None and job.evaluation != "retrieval":
        raise InputError(f"index: task {job.task!r} is evaluated as {job.evaluation}; it applies only "
                         "to retrieval tasks (e.g. cranfield)", argument="index")
    plot_path = _plot_path(plot, job, "scatter")
    output_path = _check_output(output)
    encoder = _load(model, device, precision, trust_remote_code)
    loaded = time.perf_counter()
    options = {"pooling": pooling, "layers": layers, "normalize": normalize, "batch_tokens": batch_tokens}
    metrics = evaluate_dataset(encoder, job.dataset, job.evaluation, dev=job.dev, plot=plot_path, index=index,
                               **options)
    done = time.perf_counter()
    document = {
        "task": job.task, "split": job.split, "evaluation": job.evaluation,
        "metrics": {k: _json_number(v) for k, v in metrics.items()},
        "main_metric": job.main_metric,
        "model": getattr(encoder, "name", str(model)),
        "data": _data_record(job.dataset),
        "versions": versions(),
        "settings": {**_settings(encoder, {**options, "precision": None}, done - start),
                     **({"index": index} if index is not None else {})},
        "seconds": {"load_data_and_model": round(loaded - start, 3), "evaluate": round(done - loaded, 3)},
        "plots": [str(plot_path)] if plot_path is not None else [],
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if job.evaluation == "triplet":
        from .triplet import as_triplets

        count = len(as_triplets(job.dataset))
        document["data"]["triplets"] = count
        if count < 50:
            document["notes"] = [f"only {count} triplets: few premises of this data have both an entailment "
                                 "and a contradiction hypothesis, so the accuracy is a rough figure (a larger split gives more)"]
    if job.dev is not None:
        document["data"]["thresholds_from"] = _data_record(job.dev)
    if output_path is not None:
        write_json(document, output_path)
        document["output"] = str(output_path)
    return document


def run_sweep(model, task: str, split: str | None = None, *, data=None, columns=None, score_range=None,
              data_root=None, skip_bad_rows: bool = False, limit: int | None = None, poolings=None,
              batch_tokens: int | None = None, device: str | None = None, precision: str | None = None,
              trust_remote_code: bool = False, output=None, plot=None) -> dict:
    """The pooling x layer sweep of a model on an STS task, as a result document like run_eval's, with
    "table", "columns", "poolings" and "best" (see twinbert.evaluate.sweep)."""
    from .sweep import POOLINGS, pooling_layer_sweep

    start = time.perf_counter()
    job = prepare(task, split, data=data, columns=columns, score_range=score_range, data_root=data_root,
                  skip_bad_rows=skip_bad_rows, limit=limit)
    if job.evaluation != "sts":
        raise InputError(f"the sweep scores STS data (scored pairs); task {job.task!r} is evaluated as "
                         f"{job.evaluation}")
    if poolings is not None:
        from ..modules.pooling import parse_modes

        poolings = parse_modes([p for p in poolings.split(",")] if isinstance(poolings, str) else poolings)
    plot_path = _plot_path(plot, job, "sweep")
    output_path = _check_output(output)
    encoder = _load(model, device, precision, trust_remote_code)
    loaded = time.perf_counter()
    result = pooling_layer_sweep(encoder, job.dataset, poolings=poolings or POOLINGS, plot=plot_path,
                                 batch_tokens=batch_tokens)
    done = time.perf_counter()
    document = {
        "task": job.task, "split": job.split, "evaluation": "sweep", **result,
        "model": getattr(encoder, "name", str(model)),
        "data": _data_record(job.dataset), "versions": versions(),
        "settings": {**_settings(encoder, {"batch_tokens": batch_tokens}, done - start),
                     "pooling": "swept", "layers": "swept"},
        "seconds": {"load_data_and_model": round(loaded - start, 3), "evaluate": round(done - loaded, 3)},
        "plots": [str(plot_path)] if plot_path is not None else [],
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if output_path is not None:
        write_json(document, output_path)
        document["output"] = str(output_path)
    return document


def _json_number(value):
    from ._common import clean

    return clean(value)
