"""Every example of README.md and docs/*.md runs as written.

```python blocks are exec'd in this process, in a temp dir, one loaded model shared between them (twinbert.load
is memoized here), and must print something. ```bash blocks run line by line, page by page, in one temp dir per
page and all in ONE child process: a `twinbert ...` line without shell syntax runs in-process through the
real `python -m twinbert` entry (its parser, errors and exit code), any other line through the shell. A few
blocks must not run here (a server that blocks, a Ray cluster, the hub, half an hour of training): they are tagged
```python norun / ```bash norun, counted, and kept few. `make ...` and `pip install ...` lines are the harness
itself (`make test` runs this file) and are skipped.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from test_docs import PAGES, REPO, blocks, rel

NORUN_BUDGET = 12  # blocks shown but not run, over all pages (a server, a cluster, the hub, long runs); keep it low
HARNESS = ("make ", "pip install ")
SHELL_SYNTAX = re.compile(r"[$|<>;&`*?]")
OUTPUT_FLAGS = ("--output", "-o", "--plot", "--save")

_DRIVER = r"""
import contextlib, io, json, logging, os, runpy, shlex, subprocess, sys, traceback
pages_file, results_file = sys.argv[1:3]


def run_here(line):
    out, err = io.StringIO(), io.StringIO()
    logging.root.handlers.clear()
    sys.argv = shlex.split(line)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_module("twinbert", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
    return {"line": line, "rc": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


results = {}
for page in json.load(open(pages_file, encoding="utf-8")):
    os.chdir(page["dir"])
    done = results[page["name"]] = []
    for line, here in zip(page["lines"], page["in_process"]):
        if here:
            done.append(run_here(line))
        else:
            shell = subprocess.run(line, shell=True, capture_output=True, text=True)
            done.append({"line": line, "rc": shell.returncode, "stdout": shell.stdout, "stderr": shell.stderr})
        if done[-1]["rc"] != 0:
            break
json.dump(results, open(results_file, "w", encoding="utf-8"))
"""


def python_examples() -> list:
    return [pytest.param(page, body, id=f"{rel(page)}-{i}")
            for page in PAGES for i, body in enumerate(b for tag, b in blocks(page) if tag == "python")]


def shell_lines(page: Path) -> list[str]:
    """The lines of a page's bash blocks, in order: comments and harness lines left out, `\\` lines joined."""
    lines = []
    for tag, body in blocks(page):
        if tag != "bash":
            continue
        for line in body.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith(("#", *HARNESS)):
                lines.append(line)
    return lines


def runs_in_process(line: str) -> bool:
    return line.startswith("twinbert ") and not SHELL_SYNTAX.search(line)


def blocking_lines(lines: list[str]) -> list[str]:
    """The lines that start a server: they never return."""
    return [line for line in lines if line.startswith("twinbert serve")]


def written_paths(line: str) -> list[str]:
    """The files and folders a twinbert line says it writes (--output, -o, --plot, --save)."""
    words = shlex.split(line)
    return [words[i + 1] for i, word in enumerate(words[:-1]) if word in OUTPUT_FLAGS]


@pytest.fixture(scope="module")
def shared_load():
    """twinbert.load memoized for the python examples: each model loads once for all of them."""
    import twinbert
    from twinbert import encoder

    loaded = {}

    def load(*args, **kwargs):
        key = repr((args, sorted(kwargs.items())))
        if key not in loaded:
            loaded[key] = encoder.load(*args, **kwargs)
        return loaded[key]

    patch = pytest.MonkeyPatch()
    patch.setattr(twinbert, "load", load)
    yield loaded
    patch.undo()


@pytest.mark.parametrize("page,code", python_examples())
def test_python_example(page, code, shared_load, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the data root as the shell lines get it: ../shared/data is not beside tmp_path
    monkeypatch.setenv("TWINBERT_DATA", os.environ.get("TWINBERT_DATA", str(REPO.parent / "shared" / "data")))
    exec(compile(code, str(page), "exec"), {"__name__": "__docs__"})
    assert capsys.readouterr().out.strip(), f"{rel(page)}: an example prints what it shows"


SHELL_PAGES = [page for page in PAGES if shell_lines(page)]


@pytest.fixture(scope="module")
def shell_runs(tmp_path_factory) -> dict:
    """Every page's shell lines, each page in its own folder, all in ONE child process (one torch import):
    {page: (its folder, one result per line run; a page stops at its first failing line)}. A page that
    would start a server (which never returns) is not run: its test says so."""
    root = tmp_path_factory.mktemp("shell")
    pages = []
    for i, page in enumerate(SHELL_PAGES):
        folder = root / f"page{i}"
        folder.mkdir()
        lines = shell_lines(page)
        if not blocking_lines(lines):
            pages.append({"name": rel(page), "dir": str(folder), "lines": lines,
                          "in_process": [runs_in_process(line) for line in lines]})
    (root / "pages.json").write_text(json.dumps(pages), encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "TWINBERT_DATA": os.environ.get("TWINBERT_DATA", str(REPO.parent / "shared" / "data")),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, "-c", _DRIVER, str(root / "pages.json"), str(root / "results.json")],
                          cwd=root, env=env, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((root / "results.json").read_text(encoding="utf-8"))
    return {page["name"]: (Path(page["dir"]), results[page["name"]]) for page in pages}


@pytest.mark.parametrize("page", SHELL_PAGES, ids=rel)
def test_shell_examples(page, shell_runs):
    lines = shell_lines(page)
    blocking = blocking_lines(lines)
    assert not blocking, f"{rel(page)}: a server never returns; tag its block ```bash norun: {blocking}"
    work, results = shell_runs[rel(page)]
    for result in results:
        assert result["rc"] == 0, f"{rel(page)}: {result['line']}\n{result['stderr'][-3000:]}"
    assert len(results) == len(lines)
    for line in lines:
        for path in written_paths(line) if line.startswith("twinbert ") else []:
            assert (work / path).exists(), f"{rel(page)}: {line}\ndid not write {path}"
            if path.endswith(".png"):
                assert (work / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path


def test_few_examples_are_left_unrun():
    norun = {rel(page): sum(tag.endswith(" norun") for tag, _ in blocks(page)) for page in PAGES}
    assert sum(norun.values()) <= NORUN_BUDGET, f"too many examples that never run: {norun}"


def test_the_harness_reads_the_conventions():
    page = REPO / "docs" / "encode.md"
    assert shell_lines(page) and python_examples()
    assert runs_in_process("twinbert encode --input texts.txt --output texts.npy")
    assert not runs_in_process('twinbert train --data "$TWINBERT_DATA/x.tsv"')
    assert written_paths("twinbert sweep M --plot sweep.png -o r.json") == ["sweep.png", "r.json"]
