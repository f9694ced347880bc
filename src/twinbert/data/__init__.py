"""Dataset readers: typed examples from the shared benchmark files and from the user's own
CSV / TSV / JSONL files.

One data spec, ``DataSpec("stsb", split="dev")`` or a file with its format and columns, is what
evaluation, training and the BERT heads read their data through (``read_spec("sst2:dev",
"classification")``, ``twinbert.data.spec.load(spec, shape)``); see twinbert.data.spec.

Every reader raises :class:`twinbert.errors.InputError` on a row it cannot read (the message
names the file, the 1-based line, the field and what would be accepted), or, with
``skip_bad_rows=True``, leaves the row out and records ``(line, reason)`` in
``Dataset.skipped``. Rows are never silently dropped or shifted.
"""
from __future__ import annotations

from ._io import NLI_LABELS
from .classification import read_nsmc, read_sst2, unescape_nsmc
from .examples import Dataset, PairExample, RetrievalData, TextExample, TripletExample
from .generic import read_labelled_texts, read_pairs, read_triplets
from .nli import read_klue_nli, read_kornli, read_mrpc, read_nli_csv, read_rte, read_sick_nli
from .retrieval import read_cranfield
from .spec import DataSpec, read_spec
from .sts import read_klue_sts, read_korsts, read_sick, read_stsb
from .tasks import TaskSpec, list_tasks, load_task, resolve_data_root, task_path
from .text import read_text_lines

__all__ = [
    "NLI_LABELS",
    "DataSpec",
    "Dataset",
    "PairExample",
    "RetrievalData",
    "TaskSpec",
    "TextExample",
    "TripletExample",
    "list_tasks",
    "load_task",
    "read_cranfield",
    "read_klue_nli",
    "read_klue_sts",
    "read_kornli",
    "read_korsts",
    "read_mrpc",
    "read_nli_csv",
    "read_nsmc",
    "read_pairs",
    "read_rte",
    "read_sick",
    "read_sick_nli",
    "read_spec",
    "read_sst2",
    "read_stsb",
    "read_text_lines",
    "read_labelled_texts",
    "read_triplets",
    "resolve_data_root",
    "task_path",
    "unescape_nsmc",
]
