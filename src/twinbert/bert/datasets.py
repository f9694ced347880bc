"""The data of a head-training command: a registered task ("sst2", "stsb:dev", "wikitext2:valid") or the
user's own file, read by the readers of twinbert.data."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..checks import positive_int
from ..errors import InputError

# which registered task kinds each head reads
SHAPES = {"texts": ("classification",), "pairs": ("sts", "nli", "pair-classification"), "text": None}


def load_data(spec: str, shape: str, *, split: str = "train", columns=None, target: str = "score",
              score_range=None, labels=None, data_root=None, limit: int | None = None, skip_bad_rows: bool = False,
              name: str = "task"):
    """A Dataset for `spec`: TASK or TASK:SPLIT of a registered task, or a file.

    shape "texts": labelled texts (a classification task, or a .csv/.tsv/.jsonl file with columns
    text,label); "pairs": text pairs (an STS / NLI / paraphrase task, or a file with columns
    sentence1,sentence2,score, or sentence1,sentence2,label with target="label"); "text": plain text
    (any task's texts, a .txt file with one text per line, or a file's `text` column).
    labels: the declared label set of a file's label column (see twinbert.data.labels); without it the
    labels are inferred and must all be clean. name: what the caller calls `spec` in messages (the
    argument the user gave it as: task, eval, data).
    """
    from ..data import load_task, read_pairs, read_text_lines, read_texts
    from ..data.labels import declared_labels
    from ..data.tasks import TASKS
    from ..evaluate.run import parse_columns, parse_score_range

    labels = declared_labels(labels)

    task_name, _, task_split = str(spec).partition(":")
    if task_name.strip().lower() in TASKS:
        task = TASKS[task_name.strip().lower()]
        kinds = SHAPES[shape]
        if kinds is not None and task.kind not in kinds:
            raise InputError(f"{name} {spec}: {task.kind} data; this command needs "
                             f"{' or '.join(kinds)} data", argument=name)
        dataset = load_task(task.name, task_split or split, root=data_root, skip_bad_rows=skip_bad_rows)
    else:
        path = Path(spec)
        if not path.is_file():
            raise InputError(f"{name} {spec}: neither a registered dataset ({', '.join(TASKS)}) nor an existing file",
                             argument=name)
        if shape == "text" and path.suffix.lower() == ".txt":
            dataset = read_text_lines(path)
        elif shape in ("texts", "text"):
            default = ["text", "label"] if shape == "texts" else ["text"]
            cols = parse_columns(columns) if columns is not None else default
            if shape == "texts" and len(cols) < 2:
                raise InputError(f"columns {columns}: a classifier needs a text column and a label column",
                                 argument="columns")
            dataset = read_texts(path, cols, labels=labels if shape == "texts" else None,
                                 skip_bad_rows=skip_bad_rows)
        else:
            if target not in ("score", "label"):
                raise InputError(f"target {target!r}: expected score (scored pairs) or label (labelled pairs)",
                                 argument="target")
            cols = parse_columns(columns) if columns is not None else ["sentence1", "sentence2", target]
            if len(cols) != 3:
                raise InputError(f"columns {columns}: expected three, sentence1,sentence2,{target}",
                                 argument="columns")
            mapping = dict(zip(("sentence1", "sentence2", target), cols))
            dataset = read_pairs(path, mapping, skip_bad_rows=skip_bad_rows,
                                 labels=labels if target == "label" else None,
                                 score_range=parse_score_range(score_range) if target == "score" else None)
        dataset = dataclasses.replace(dataset, name=path.stem, split="")
    if limit is not None:
        positive_int(limit, "limit")
        dataset = dataclasses.replace(dataset, examples=dataset.examples[:limit])
    return dataset
