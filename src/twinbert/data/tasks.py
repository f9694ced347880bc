"""Registry of the datasets in the shared data folder: ``load_task("stsb", "test")``.

The data root is the ``root`` argument if given, else the ``TWINBERT_DATA`` environment
variable, else ``../shared/data`` relative to the current working directory (the project's
root when run from there).
"""
from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from .classification import read_nsmc, read_sst2
from .examples import Dataset
from .korquad import read_korquad
from .nli import read_klue_nli, read_kornli, read_mrpc, read_nli_csv, read_rte, read_sick_nli
from .retrieval import read_cranfield
from .sts import read_klue_sts, read_korsts, read_sick, read_stsb
from .text import read_text_lines

DATA_ENV = "TWINBERT_DATA"


@dataclass(frozen=True)
class TaskSpec:
    """One registered task: ``splits`` maps each split to its path under the data root;
    ``aliases`` maps extra split names to one of them; ``split_options`` gives the reader extra
    keyword arguments per split (splits that share one file and differ in what is read from it)."""

    name: str
    kind: str
    description: str
    splits: dict[str, str]
    reader: Callable[..., Dataset] = field(repr=False, compare=False)
    aliases: dict[str, str] = field(default_factory=dict)
    split_options: dict[str, dict] = field(default_factory=dict)


def _text_reader(path: Path, *, skip_bad_rows: bool = False) -> Dataset:
    return read_text_lines(path)


_KORQUAD_SPLITS = {"dev": "korquad/KorQuAD_v1.0_dev.json", "test": "korquad/KorQuAD_v1.0_dev.json"}
_KORQUAD_PARTS = {"dev": {"part": "dev"}, "test": {"part": "test"}}

_TASKS = [
    TaskSpec("stsb", "sts", "STS Benchmark (English), scores 0-5",
             {"train": "stsb/sts-train.csv", "dev": "stsb/sts-dev.csv", "test": "stsb/sts-test.csv"}, read_stsb),
    TaskSpec("korsts", "sts", "KorSTS, Korean translation of STS Benchmark (rows align 1:1 with stsb), scores 0-5",
             {"train": "korsts/sts-train.tsv", "dev": "korsts/sts-dev.tsv", "test": "korsts/sts-test.tsv"}, read_korsts),
    TaskSpec("sick", "sts", "SICK 2014 relatedness (English), scores 1-5",
             {"train": "sick/SICK_train.txt", "trial": "sick/SICK_trial.txt"}, read_sick),
    TaskSpec("sick-nli", "nli", "SICK 2014 entailment (English), 3 labels",
             {"train": "sick/SICK_train.txt", "trial": "sick/SICK_trial.txt"}, read_sick_nli),
    TaskSpec("klue-sts", "sts", "KLUE-STS v1.1 (Korean), scores 0-5 plus a binary label",
             {"dev": "klue/klue-sts-v1.1_dev.json"}, read_klue_sts),
    TaskSpec("klue-nli", "nli", "KLUE-NLI v1.1 (Korean), 3 labels",
             {"dev": "klue/klue-nli-v1.1_dev.json"}, read_klue_nli),
    TaskSpec("kornli", "nli", "KorNLI (Korean XNLI translation), 3 labels",
             {"dev": "kornli/xnli.dev.ko.tsv", "test": "kornli/xnli.test.ko.tsv"}, read_kornli),
    TaskSpec("snli", "nli", "SNLI 1.0 (English), 3 labels, rows with gold label '-' dropped",
             {"dev": "snli/snli_1.0_dev.csv", "test": "snli/snli_1.0_test.csv"}, read_nli_csv),
    TaskSpec("mnli", "nli", "MultiNLI 1.0 (English), 3 labels, rows with gold label '-' dropped",
             {"dev_matched": "mnli/multinli_1.0_dev_matched.csv",
              "dev_mismatched": "mnli/multinli_1.0_dev_mismatched.csv"}, read_nli_csv,
             {"dev": "dev_matched"}),
    TaskSpec("mrpc", "pair-classification", "Microsoft Research Paraphrase Corpus, 1 = paraphrase",
             {"train": "mrpc/train.tsv", "dev": "mrpc/dev.tsv", "test": "mrpc/msr_paraphrase_test.txt",
              "train_full": "mrpc/msr_paraphrase_train.txt"}, read_mrpc),
    TaskSpec("rte", "pair-classification", "RTE (GLUE), 1 = entailment",
             {"train": "rte/train.tsv", "dev": "rte/dev.tsv"}, read_rte),
    TaskSpec("nsmc", "classification", "Naver movie review sentiment (Korean), 1 = positive",
             {"train": "nsmc/ratings_train.txt", "test": "nsmc/ratings_test.txt"}, read_nsmc),
    TaskSpec("sst2", "classification", "SST-2 sentiment (English, GLUE), 1 = positive; test = gold-labelled derived file",
             {"train": "sst2/train.tsv", "dev": "sst2/dev.tsv", "test": "sst2/test_labeled.derived.tsv"}, read_sst2),
    TaskSpec("cranfield", "retrieval", "Cranfield 1400 abstracts, 225 queries, 1837 relevance judgements",
             {"test": "cranfield"}, read_cranfield),
    TaskSpec("korquad", "retrieval", "KorQuAD 1.0 dev as passage retrieval: 964 paragraphs, 5,774 questions; "
             "dev = questions of the articles at even positions, test = odd (corpus: all paragraphs)",
             _KORQUAD_SPLITS, functools.partial(read_korquad, level="passage"), split_options=_KORQUAD_PARTS),
    TaskSpec("korquad-docs", "retrieval", "KorQuAD 1.0 dev as document retrieval: 140 articles (long documents), "
             "5,774 questions; dev = articles at even positions, test = odd (corpus: all articles)",
             _KORQUAD_SPLITS, functools.partial(read_korquad, level="document"), split_options=_KORQUAD_PARTS),
    TaskSpec("wikitext2", "text", "WikiText-2 raw text, one example per non-blank line (masked-LM data)",
             {"valid": "wikitext2/valid.txt", "test": "wikitext2/test.txt"}, _text_reader),
]
TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in _TASKS}


def list_tasks() -> list[TaskSpec]:
    """Every registered task (``name``, ``kind``, one-line ``description``, ``splits``)."""
    return list(_TASKS)


def resolve_data_root(root: str | Path | None = None) -> Path:
    """The data folder: ``root``, else ``$TWINBERT_DATA``, else ``<cwd>/../shared/data``."""
    if root is not None:
        path, source = Path(root), "the data root argument"
    elif os.environ.get(DATA_ENV):
        path, source = Path(os.environ[DATA_ENV]), f"${DATA_ENV}"
    else:
        path, source = Path.cwd().parent / "shared" / "data", "the default ../shared/data next to the working directory"
    if not path.is_dir():
        raise InputError(
            f"data root {path} (from {source}) is not an existing folder; expected the folder holding "
            f"stsb/, korsts/, snli/ ...: pass --data-root DIR or set {DATA_ENV}=DIR"
        )
    return path


def get_task(task: str) -> TaskSpec:
    spec = TASKS.get(task.strip().lower()) if isinstance(task, str) else None
    if spec is None:
        raise InputError(f"task {task!r}: unknown; expected one of {', '.join(TASKS)}")
    return spec


def task_path(task: str, split: str, root: str | Path | None = None) -> Path:
    """Where a task's split lives under the data root (not checked for existence)."""
    spec = get_task(task)
    return resolve_data_root(root) / spec.splits[_split_name(spec, split)]


def _split_name(spec: TaskSpec, split: str) -> str:
    name = spec.aliases.get(split, split)
    if name not in spec.splits:
        accepted = list(spec.splits) + [f"{a} (= {t})" for a, t in spec.aliases.items()]
        raise InputError(f"split {split!r} of task {spec.name!r}: does not exist; expected one of {', '.join(accepted)}")
    return name


def load_task(task: str, split: str, root: str | Path | None = None, skip_bad_rows: bool = False) -> Dataset:
    """Read one split of a registered task. The returned :class:`Dataset` has ``name`` = the
    task name, ``split`` = the split name (aliases resolved) and ``kind`` = the task's kind."""
    spec = get_task(task)
    split = _split_name(spec, split)
    data_root = resolve_data_root(root)
    path = data_root / spec.splits[split]
    if not path.exists():
        raise InputError(
            f"{path}: not found (task {spec.name!r}, split {split!r}); expected it under the data root "
            f"{data_root} (pass --data-root DIR or set {DATA_ENV}=DIR to point elsewhere)"
        )
    dataset = spec.reader(path, skip_bad_rows=skip_bad_rows, **spec.split_options.get(split, {}))
    return dataclasses.replace(dataset, name=spec.name, split=split, kind=spec.kind)
