"""Every bad-input case of cases_*.py through the real CLI (one child process), and docs/bad-input.md
rendered from the results: the table a user reads is the behaviour the tests saw.

Regenerate the document after changing a case: TWINBERT_WRITE_DOCS=1 pytest tests/bad_input/test_table.py
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_runner import cli_env, run_cli_batch

from bad_input.cases import modules

DOC = Path(__file__).resolve().parents[2] / "docs" / "bad-input.md"
ALL = [case for module in modules() for case in module.CASES]


def test_case_ids_are_unique():
    ids = [c.id for c in ALL]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


@pytest.fixture(scope="module")
def results(tiny_bert, tmp_path_factory):
    work = tmp_path_factory.mktemp("badtable")
    root = work / "DIR"
    root.mkdir()
    for module in modules():
        module.build(root, tiny_bert)
    argv = {c.id: [a.format(root=root, tiny=tiny_bert) for a in c.argv] for c in ALL}
    out = run_cli_batch(argv, work, cli_env(work / "hf"))
    return root, tiny_bert, out


def _line(result) -> str:
    lines = [line for line in result["stderr"].splitlines() if line.strip() and not line.startswith("WARNING")]
    return lines[-1] if lines else ""


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
def test_case(results, case):
    root, _, out = results
    result = out[case.id]
    stderr = result["stderr"]
    assert "Traceback" not in stderr, stderr[-2000:]
    assert result["rc"] == case.rc, (result["rc"], stderr[-2000:])
    if case.rc != 0:
        errors = [line for line in stderr.splitlines() if "error" in line.lower()]
        assert len(errors) == 1, stderr
    assert case.expect in stderr, stderr
    if case.check is not None:
        case.check(root)


def render(results) -> str:
    root, tiny, out = results
    lines = ["# Bad input: what twinbert answers",
             "",
             "Generated from `tests/bad_input/cases_*.py` by `tests/bad_input/test_table.py` (a test fails when",
             "this file and the behaviour differ). `DIR` is a folder of input files, `MODEL` a model folder.",
             "User errors exit 2 with one line on stderr; Ctrl-C exits 130, SIGTERM 143; nothing the user had",
             "is changed and no partial output is left.",
             "",
             "Empty input follows one rule everywhere: an input file (or list) with nothing to work on is an",
             "error naming the file, exit 2 (`FILE: no texts to encode|index|add|mine ...` for text inputs,",
             "`FILE: no rows ...` for data files of pairs or labels); in the library `encode([])` returns an",
             "empty `(0, dim)` array. Empty strings inside an input are valid texts, and a blank line of a",
             "`.txt` or `.jsonl` file is an empty text (output row i is input line i); in CSV/TSV a blank line",
             "is no record, as the CSV convention has it. Mining skips empty texts and counts them.",
             "",
             "| case | command | exit | message |",
             "|---|---|---|---|"]
    for case in ALL:
        command = " ".join(["twinbert", *case.argv]).replace("{root}", "DIR").replace("{tiny}", "MODEL")
        message = _line(out[case.id]).replace(str(root), "DIR").replace(str(tiny), "MODEL")
        cells = [case.doc, f"`{command}`", str(out[case.id]["rc"]), message.replace("|", "\\|")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def test_docs_table_matches_behaviour(results):
    text = render(results)
    if os.environ.get("TWINBERT_WRITE_DOCS"):
        DOC.write_text(text, encoding="utf-8")
    assert DOC.is_file(), f"run TWINBERT_WRITE_DOCS=1 pytest {__file__} to write {DOC}"
    assert DOC.read_text(encoding="utf-8") == text, f"{DOC} is stale: rerun with TWINBERT_WRITE_DOCS=1"
