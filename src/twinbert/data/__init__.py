"""Dataset readers: typed examples from the shared benchmark files and from the user's own
CSV / TSV / JSONL files.

Every reader raises :class:`twinbert.errors.InputError` on a row it cannot read (the message
names the file, the 1-based line, the field and what would be accepted), or, with
``skip_bad_rows=True``, leaves the row out and records ``(line, reason)`` in
``Dataset.skipped``. Rows are never silently dropped or shifted.
"""

from twinbert.data.classification import read_nsmc, read_sst2, unescape_nsmc
from twinbert.data.examples import Dataset, PairExample, RetrievalData, TextExample, TripletExample
from twinbert.data.generic import read_pairs, read_texts, read_triplets
from twinbert.data.nli import read_klue_nli, read_kornli, read_mrpc, read_nli_csv, read_rte, read_sick_nli
from twinbert.data.retrieval import read_cranfield
from twinbert.data.sts import read_klue_sts, read_korsts, read_sick, read_stsb
from twinbert.data.tasks import TaskSpec, list_tasks, load_task, resolve_data_root, task_path
from twinbert.data.text import read_text_lines

__all__ = [
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
    "read_korsts",
    "read_kornli",
    "read_mrpc",
    "read_nli_csv",
    "read_nsmc",
    "read_pairs",
    "read_rte",
    "read_sick",
    "read_sick_nli",
    "read_sst2",
    "read_stsb",
    "read_text_lines",
    "read_texts",
    "read_triplets",
    "resolve_data_root",
    "task_path",
    "unescape_nsmc",
]
