"""One data spec: which data a job reads ("stsb:dev", or a file with its columns), and `load`, the one
place where it becomes typed examples. Evaluation, sentence-encoder training and the BERT heads
(classifier, cross-encoder, masked LM) resolve their data here, so a rule or a message holds for all.

A spec names a registered task of the shared data folder (``stsb``, ``korsts:test``; see
twinbert.data.tasks), or a file of the user's and the format it holds. Formats (``columns``: header
names or 0-based indexes, in this order; optional columns in brackets):

  sts             sentence1, sentence2, score       scores inside score_range (default 0..5)
  pairs           sentence1, sentence2[, label]     labels 0 / 1 (1 = positive); two columns: unlabelled
  nli             premise, hypothesis, label        entailment / neutral / contradiction
  triplets        anchor, positive, negative
  texts           text[, label]                     a .txt file: one text per line
  classification  text, label                       the label set declared (labels=) or inferred
  scored-pairs    sentence1, sentence2, score       a cross-encoder's scored pairs
  labelled-pairs  sentence1, sentence2, label       a cross-encoder's labelled pairs, labels as above

A task name may name the first five (``DataSpec("sts", path="mine.tsv")``); the others are shapes a
caller asks `load` for, together with the kinds of registered task that hold that shape.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ..checks import positive_int
from ..errors import InputError
from ._io import NLI_LABELS
from .examples import Dataset, RetrievalData
from .generic import read_labelled_texts, read_pairs, read_triplets
from .labels import declared_labels
from .tasks import TASKS, TaskSpec, load_task
from .text import read_text_lines

DEFAULT_SCORE_RANGE = (0.0, 5.0)
SPLIT_PREFERENCE = ("test", "dev", "dev_matched", "trial", "valid")  # a registered task's default split
PAIR_KINDS = ("sts", "nli", "pair-classification")


@dataclass(frozen=True)
class Format:
    """How a file of one shape is read, and which registered tasks hold that shape."""

    roles: tuple[str, ...]                    # what each column holds, in order (the readers' roles)
    columns: tuple[str, ...]                  # the default columns
    required: int                             # the fewest columns a file may have
    kinds: tuple[str, ...] | None             # kinds of registered task with this shape (None: any)
    kind: str | None = None                   # the Dataset kind of such a file (None: the reader's)
    labels: tuple[str, ...] | None = None     # the label set unless one is declared (None: inferred)
    score_range: tuple[float, float] | None = None  # unless one is given
    lines: bool = False                       # a .txt file holds one text per line


_PAIR_SCORE = ("sentence1", "sentence2", "score")
_PAIR_LABEL = ("sentence1", "sentence2", "label")
_TRIPLET = ("anchor", "positive", "negative")
FORMATS = {
    "sts": Format(_PAIR_SCORE, _PAIR_SCORE, 3, ("sts",), "sts", score_range=DEFAULT_SCORE_RANGE),
    "pairs": Format(_PAIR_LABEL, _PAIR_LABEL, 2, ("pair-classification",), "pairs", labels=("0", "1")),
    "triplets": Format(_TRIPLET, _TRIPLET, 3, (), "triplets"),
    "nli": Format(_PAIR_LABEL, ("premise", "hypothesis", "label"), 3, ("nli",), "nli", labels=tuple(NLI_LABELS)),
    "texts": Format(("text", "label"), ("text",), 1, None, lines=True),
    "classification": Format(("text", "label"), ("text", "label"), 2, ("classification",)),
    "scored-pairs": Format(_PAIR_SCORE, _PAIR_SCORE, 3, PAIR_KINDS, score_range=DEFAULT_SCORE_RANGE),
    "labelled-pairs": Format(_PAIR_LABEL, _PAIR_LABEL, 3, PAIR_KINDS),
}
TASK_FORMATS = ("sts", "pairs", "triplets", "nli", "texts")  # the formats a task name may name


# ------------------------------------------------------------------ argument values
def parse_columns(columns) -> tuple:
    """'a,b,score' -> ('a', 'b', 'score'); '0,1,4' -> (0, 1, 4) (a file without header)."""
    items = [c.strip() for c in columns.split(",")] if isinstance(columns, str) else list(columns)
    if not items or any(isinstance(c, str) and not c for c in items):
        raise InputError(f"columns {columns!r}: expected names or 0-based indexes joined by commas, e.g. "
                         "sentence1,sentence2,score", argument="columns")
    if all(isinstance(c, int) or (isinstance(c, str) and c.isdigit()) for c in items):
        return tuple(int(c) for c in items)
    return tuple(str(c) for c in items)


def parse_score_range(value) -> tuple[float, float]:
    """'0,5' or (0, 5) -> (0.0, 5.0); None -> the default 0..5."""
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


def default_split(task: TaskSpec) -> str:
    """test, else dev, else ... (the split a result is usually reported on), else the first."""
    return next((name for name in SPLIT_PREFERENCE if name in task.splits), next(iter(task.splits)))


# ------------------------------------------------------------------ the spec
@dataclass(frozen=True)
class DataSpec:
    """The data of one job, checked when made: a registered task (and split), or a file and its format.

    task: a registered task (stsb, korsts, ...), a format of TASK_FORMATS (the file's), or None (a file
    whose format the caller's shape gives). split: a registered task's split (default: the caller's).
    path: a file; with a registered task, a file in that task's own format. columns, score_range,
    labels: how to read a file (see the module docstring). limit: the first N examples only (retrieval:
    the first N queries). argument: what the caller calls this data, for messages (task, eval, data).
    """

    task: str | None = None
    split: str | None = None
    path: Path | None = None
    columns: tuple | None = None
    score_range: tuple[float, float] | None = None
    labels: tuple[str, ...] | None = None
    limit: int | None = None
    skip_bad_rows: bool = False
    data_root: str | Path | None = None
    argument: str = field(default="task", compare=False)

    def __post_init__(self):
        task = self.task.strip().lower() if isinstance(self.task, str) else self.task
        if task is not None and task not in TASKS and task not in TASK_FORMATS:
            raise InputError(f"task {self.task!r}: unknown; expected a registered dataset ({', '.join(TASKS)}) or one "
                             f"of {', '.join(TASK_FORMATS)} (your own file)", argument="task")
        if task in TASK_FORMATS and self.path is None:
            raise InputError(f"task {task!r} reads your own file: give data=FILE (a .csv, .tsv or .jsonl file)",
                             argument="data")
        if self.split is not None and self.path is not None:
            raise InputError(f"split {self.split!r}: task {task or str(self.path)!r} reads the file you give it; "
                             "drop split", argument="split")
        labels = declared_labels(self.labels)
        normal = {"task": task, "path": None if self.path is None else Path(self.path),
                  "columns": None if self.columns is None else parse_columns(self.columns),
                  "score_range": None if self.score_range is None else parse_score_range(self.score_range),
                  "labels": None if labels is None else tuple(labels),
                  "limit": positive_int(self.limit, "limit", allow_none=True)}
        for name, value in normal.items():
            object.__setattr__(self, name, value)  # frozen once made: normalised here, the one time

    @classmethod
    def parse(cls, text, *, argument: str = "task", **options) -> DataSpec:
        """'stsb' or 'stsb:dev' (a registered task and split), else a file path; `options`: the other
        fields. argument: what the caller calls `text`, for messages."""
        name, _, split = str(text).partition(":")
        if name.strip().lower() in TASKS:
            return cls(name, split=split or None, argument=argument, **options)
        if not Path(text).is_file():
            raise InputError(f"{argument} {text}: neither a registered dataset ({', '.join(TASKS)}) nor an "
                             "existing file", argument=argument)
        return cls(path=Path(text), argument=argument, **options)

    @property
    def registered(self) -> TaskSpec | None:
        """The registered task named, or None for the user's own file."""
        return TASKS.get(self.task) if self.task is not None else None

    def __str__(self) -> str:
        if self.registered is not None and self.path is None:
            return self.task + (f":{self.split}" if self.split else "")
        return str(self.path)


# ------------------------------------------------------------------ reading
def load(spec: DataSpec, shape: str | None = None, *, split: str | None = None) -> Dataset:
    """The Dataset `spec` names, read and checked.

    shape: what the caller needs, a key of FORMATS: a file the spec gives no format for is read as
    that, and a registered task must be of one of its kinds. split: a registered task's split when
    the spec names none (default: test, else dev, ...)."""
    task = spec.registered
    if task is None:
        dataset = _read_file(spec, spec.task or shape)
    else:
        kinds = FORMATS[shape].kinds if shape is not None else None
        if kinds is not None and task.kind not in kinds:
            raise InputError(f"{spec.argument} {spec}: {task.kind} data; this command needs {' or '.join(kinds)} "
                             "data", argument=spec.argument)
        dataset = _read_task(spec, task, split)
    return limit_examples(dataset, spec.limit)


def read_spec(text, shape: str, *, split: str | None = None, argument: str = "task", **options) -> Dataset:
    """load(DataSpec.parse(text, ...), shape): the data a user named in one string, "sst2:dev" or a file,
    e.g. ``read_spec("sst2", "classification", split="train")``."""
    return load(DataSpec.parse(text, argument=argument, **options), shape, split=split)


def _read_task(spec: DataSpec, task: TaskSpec, split: str | None) -> Dataset:
    if spec.path is None:
        return load_task(task.name, spec.split or split or default_split(task), root=spec.data_root,
                         skip_bad_rows=spec.skip_bad_rows)
    if not spec.path.exists():  # a folder is fine: cranfield is one
        raise InputError(f"{spec.path}: not found; expected a {task.name} file")
    dataset = task.reader(spec.path, skip_bad_rows=spec.skip_bad_rows)
    return dataclasses.replace(dataset, name=task.name, split=spec.path.name, kind=task.kind)


def _read_file(spec: DataSpec, name: str | None) -> Dataset:
    if name is None:
        raise InputError(f"{spec.path}: which format? name one of {', '.join(TASK_FORMATS)} as the task",
                         argument="task")
    form, path = FORMATS[name], spec.path
    if form.lines and path.suffix.lower() == ".txt":
        dataset = read_text_lines(path)
    else:
        columns = spec.columns or form.columns
        if not form.required <= len(columns) <= len(form.roles):
            count = len(form.roles) if form.required == len(form.roles) else f"{form.required} or {len(form.roles)}"
            who = f"task {spec.task!r}" if spec.task else f"{name} data"
            defaults = form.columns + form.roles[len(form.columns):]
            raise InputError(f"columns {','.join(map(str, columns))}: {len(columns)} given, {who} needs {count}: "
                             f"{', '.join(defaults)} (names from the header, or 0-based indexes)", argument="columns")
        roles = dict(zip(form.roles, columns))
        labels = spec.labels or form.labels
        if "anchor" in roles:
            dataset = read_triplets(path, roles, skip_bad_rows=spec.skip_bad_rows)
        elif "text" in roles:
            dataset = read_labelled_texts(path, roles, labels=labels, skip_bad_rows=spec.skip_bad_rows)
        else:
            score_range = (spec.score_range or form.score_range) if "score" in roles else None
            dataset = read_pairs(path, roles, score_range=score_range, labels=labels,
                                 skip_bad_rows=spec.skip_bad_rows)
    return dataclasses.replace(dataset, name=path.stem, split="", kind=form.kind or dataset.kind)


def limit_examples(dataset: Dataset, limit: int | None) -> Dataset:
    """The first `limit` examples; of a retrieval collection, the first `limit` queries that have a
    relevant document (the corpus stays whole)."""
    if limit is None:
        return dataset
    if dataset.kind != "retrieval":
        return dataclasses.replace(dataset, examples=dataset.examples[:limit])
    data = dataset.retrieval
    keep = [q for q in data.queries if data.relevant.get(q)][:limit]
    data = RetrievalData({q: data.queries[q] for q in keep}, data.corpus, {q: data.relevant[q] for q in keep},
                         {q: data.grades.get(q, {}) for q in keep})
    return dataclasses.replace(dataset, examples=[data])


__all__ = ["FORMATS", "TASK_FORMATS", "DataSpec", "default_split", "limit_examples", "load", "parse_columns",
           "parse_score_range", "read_spec"]
