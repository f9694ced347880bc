"""Run many `python -m twinbert ...` invocations in ONE child process (a fresh process per case costs
several seconds of torch/transformers import): the real __main__, parser, error handling and exit codes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_DRIVER = r"""
import contextlib, io, json, logging, runpy, sys, traceback
cases_file, results_file = sys.argv[1:3]
cases = json.load(open(cases_file, encoding="utf-8"))
results = {}
for name, argv in cases.items():
    out, err = io.StringIO(), io.StringIO()
    logging.root.handlers.clear()
    sys.argv = ["twinbert", *argv]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_module("twinbert", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
    results[name] = {"rc": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
json.dump(results, open(results_file, "w", encoding="utf-8"))
"""


def cli_env(hf_home: Path) -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(hf_home), "TOKENIZERS_PARALLELISM": "false"}


def run_cli_batch(cases: dict[str, list[str]], work: Path, env: dict) -> dict[str, dict]:
    """Run `python -m twinbert *argv` for every case in one child process -> {name: {rc, stdout, stderr}}."""
    (work / "cases.json").write_text(json.dumps(cases), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", _DRIVER, str(work / "cases.json"), str(work / "results.json")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((work / "results.json").read_text(encoding="utf-8"))
