"""Every example in the README runs as written (python blocks in-process, shell lines in a temp dir)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```(python|bash)\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def shell_lines():
    for lang, body in BLOCKS:
        if lang != "bash":
            continue
        for line in body.splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith(("make ", "#")):  # make demo/test are the harness itself
                yield line


@pytest.mark.parametrize("code", [b for lang, b in BLOCKS if lang == "python"])
def test_python_examples(code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    assert capsys.readouterr().out.strip()  # every example prints something


def test_shell_examples(tmp_path):
    lines = list(shell_lines())
    assert any(line.startswith("twinbert encode") for line in lines)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TWINBERT_DATA": str(README.parent.parent / "shared" / "data"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for line in lines:
        done = subprocess.run(line, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{line}\n{done.stderr}"
    assert (tmp_path / "texts.npy").is_file() and (tmp_path / "heatmap.png").is_file()
    assert (tmp_path / "sweep.png").is_file() and (tmp_path / "corpus-index").is_dir()
    assert (tmp_path / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
