"""README.md is the front door: short, and its first screen installs, does the main job and names the test
command, which is the one CI runs. (Its examples run with every docs page's: tests/test_docs_examples.py.)"""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
MAX_LINES = 250
FIRST_SCREEN = 40  # lines a reader sees before scrolling


def first_screen() -> str:
    return "\n".join(README.splitlines()[:FIRST_SCREEN])


def test_the_readme_is_a_front_door_not_a_manual():
    assert len(README.splitlines()) <= MAX_LINES, f"README.md has {len(README.splitlines())} lines: move " \
                                                   "reference material to a docs/ page"


def test_the_first_screen_installs_does_the_main_job_and_tests():
    screen = first_screen()
    assert "make install" in screen and "pip install" in screen
    python = re.search(r"```python\n(.*?)```", screen, flags=re.S)
    assert python and "twinbert.load(" in python.group(1) and ".encode(" in python.group(1)
    assert "twinbert.similarity(" in python.group(1)
    assert re.search(r"```bash\ntwinbert \w+", screen), "one command line doing the main job"
    assert "make test" in screen


def test_make_test_is_the_test_command_of_the_readme_and_of_ci():
    assert re.search(r"^test:", (REPO / "Makefile").read_text(encoding="utf-8"), flags=re.M)
    assert (REPO / ".ci" / "run").read_text(encoding="utf-8").rstrip().endswith("make test")
    assert "make test" in first_screen()
