"""Every command that writes a model or index folder follows the one rule of
twinbert.formats.model_folder: a folder holding another model is replaced only with --overwrite, and the
folder of the model being read is never written, whether that model is given by path or by a name that
resolves to it (here: a Hugging Face cache entry, as a hub id resolves offline). Each refusal is exit 2,
one line naming the folder and --overwrite, and nothing on disk changes.

All cases run in one child process (cli_runner.run_cli_batch)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_runner import cli_env, run_cli_batch

from twinbert.errors import OutputError
from twinbert.formats.model_folder import check_target, source_folders
from twinbert.formats.resolve import bundled_default_path

NAME = "twinbert-test/reader"  # a hub id found in the local cache: resolves to the snapshot folder
STS = "sentence1\tsentence2\tscore\n" + "the cat sat\ta cat sat\t4.0\ni love paris\tthe dog ran\t1.0\n" * 4
LABELLED = "text\tlabel\n" + "the cat sat\tpos\nbad food\tneg\n" * 4
STEP = ("--max-steps", "1", "--batch-size", "4", "--no-progress")


def writers(d: Path) -> dict[str, callable]:
    """command -> argv(model, out): every command that writes a model or index folder."""
    return {
        "export": lambda m, o: ["export", m, o],
        "trim-vocab": lambda m, o: ["trim-vocab", m, o, "--keep-script", "latin"],
        "train": lambda m, o: ["train", "--model", m, "--task", "sts", "--data", str(d / "pairs.tsv"), "--loss",
                               "cosine", *STEP, "--output", o],
        "classify": lambda m, o: ["classify", "train", "--model", m, "--task", str(d / "labelled.tsv"), *STEP,
                                  "--output", o],
        "cross-encoder": lambda m, o: ["cross-encoder", "train", "--model", m, "--task", str(d / "pairs.tsv"),
                                       *STEP, "--output", o],
        "mlm": lambda m, o: ["mlm", "train", "--model", m, "--data", str(d / "texts.txt"), *STEP, "--output", o],
        "recipe": lambda m, o: ["recipe", "korean", "--base", m, "--output", o, "--limit", "4"],
        "index": lambda m, o: ["index", "build", o, "--input", str(d / "texts.txt"), "--model", m],
    }


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def runs(tiny_bert, tmp_path_factory):
    work = tmp_path_factory.mktemp("folders")
    d = work / "DIR"
    d.mkdir()
    (d / "pairs.tsv").write_text(STS, encoding="utf-8")
    (d / "labelled.tsv").write_text(LABELLED, encoding="utf-8")
    (d / "texts.txt").write_text("the cat sat on the mat\ni love paris\n", encoding="utf-8")
    reader = shutil.copytree(tiny_bert, d / "reader")  # the model each command reads, by path
    other = shutil.copytree(tiny_bert, d / "other")  # another model the user has
    (other / "notes.txt").write_text("mine", encoding="utf-8")
    repo = work / "hf" / "hub" / f"models--{NAME.replace('/', '--')}"
    cached = shutil.copytree(tiny_bert, repo / "snapshots" / "0123abcd")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    cases = {}
    for command, argv in writers(d).items():
        cases[f"{command}/other"] = argv(str(reader), str(other))
        for flags in ((), ("--overwrite",)):
            tag = "+overwrite" if flags else ""
            cases[f"{command}/own-path{tag}"] = [*argv(str(reader), str(reader)), *flags]
            cases[f"{command}/own-name{tag}"] = [*argv(NAME, str(cached)), *flags]
        # the bundled default by its name into its own folder (no --overwrite: safe even if the rule broke)
        cases[f"{command}/bundled"] = argv("all-MiniLM-L6-v2", str(bundled_default_path()))
    before = {p: _snapshot(p) for p in (reader, other, cached)}
    bundled = {p.name: p.stat().st_mtime_ns for p in bundled_default_path().iterdir()}
    out = run_cli_batch(cases, work, cli_env(work / "hf"))
    return cases, out, before, bundled, {"other": other, "own-path": reader, "own-name": cached,
                                          "bundled": bundled_default_path()}


COMMANDS = list(writers(Path(".")))


@pytest.mark.parametrize("command", COMMANDS)
def test_writer_never_replaces_a_model_without_overwrite_nor_its_own(runs, command):
    cases, out, before, bundled, folders = runs
    for case in [c for c in cases if c.startswith(command + "/")]:
        result = out[case]
        stderr = result["stderr"]
        assert "Traceback" not in stderr, (case, stderr[-2000:])
        assert result["rc"] == 2, (case, result["rc"], stderr[-2000:])
        lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith(("WARNING", "INFO"))]
        assert len(lines) == 1, (case, stderr)
        folder = str(folders[case.split("/")[1].split("+")[0]])
        assert folder in lines[0] and "--overwrite" in lines[0], (case, lines[0])
    for folder, listing in before.items():
        assert _snapshot(folder) == listing, folder
    assert {p.name: p.stat().st_mtime_ns for p in bundled_default_path().iterdir()} == bundled


def test_the_rule_resolves_names_before_comparing(tmp_path):
    """The bundled default, named, is its folder: refused as an output even with overwrite."""
    with pytest.raises(OutputError, match="is the folder of the model being read") as e:
        check_target(bundled_default_path(), overwrite=True, model_ok=True,
                     sources=source_folders("all-MiniLM-L6-v2"))
    assert e.value.argument == "overwrite"
    link = tmp_path / "link"
    link.symlink_to(bundled_default_path(), target_is_directory=True)
    with pytest.raises(OutputError, match="is the folder of the model being read"):
        check_target(link, overwrite=True, model_ok=True, sources=source_folders("sentence-transformers/all-MiniLM-L6-v2"))
