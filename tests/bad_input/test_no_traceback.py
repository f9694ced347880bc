"""No traceback, ever, for bad input or a bad environment: every CLI subcommand (enumerated from the
argparse parser, so a new one must be added to TEMPLATES or this test fails) is run with each kind of
broken environment for each of its file arguments: a missing path, a folder where a file goes, an empty
file, bytes that are not text, garbage JSON in a model or index folder, a model missing its weights, an
output under a regular file ... Each must end in an error message (exit 2) or succeed, never in a
Python traceback (exit 1). All cases run in one child process (cli_runner.run_cli_batch)."""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest
from cli_runner import cli_env, run_cli_batch
from conftest import build_tiny_bert

from twinbert.cli.main import build_parser

STS = "sentence1\tsentence2\tscore\n" + "the cat sat\ta cat sat\t4.0\ni love paris\tthe dog ran\t1.0\n" * 4
LABELLED = "text\tlabel\n" + "the cat sat\tpos\nbad food\tneg\n" * 4
STEP = ("--max-steps", "1", "--batch-size", "4", "--no-progress")

# The valid command line of every subcommand, with its file arguments as roles: {M} a model folder,
# {T} a text file, {P} a file of scored pairs, {L} a file of labelled texts, {O} an output folder,
# {F} an output .npy file, {I} an index folder, {R} a recipe run folder.
TEMPLATES: dict[str, list[str]] = {
    "encode": ["encode", "--model", "{M}", "--input", "{T}", "--output", "{F}", "--quiet"],
    "similarity": ["similarity", "--model", "{M}", "the cat", "a dog"],
    "compare": ["compare", "--models", "{M}", "the cat", "a dog"],
    "info": ["info", "{M}"],
    "eval": ["eval", "{M}", "--task", "sts", "--data", "{P}"],
    "sweep": ["sweep", "{M}", "--task", "sts", "--data", "{P}"],
    "index build": ["index", "build", "{O}", "--input", "{T}", "--model", "{M}"],
    "index add": ["index", "add", "{I}", "--input", "{T}", "--model", "{M}"],
    "index tune": ["index", "tune", "{I}", "--queries", "{T}", "--model", "{M}"],
    "search": ["search", "{I}", "the cat", "--model", "{M}"],
    "mine": ["mine", "{T}", "--model", "{M}"],
    "train": ["train", "--model", "{M}", "--task", "sts", "--data", "{P}", "--loss", "cosine", *STEP, "--output", "{O}"],
    "features": ["features", "--model", "{M}", "the cat"],
    "fill-mask": ["fill-mask", "{M}", "the [MASK] sat"],
    "nsp": ["nsp", "{M}", "the cat sat", "it was happy"],
    "classify train": ["classify", "train", "--model", "{M}", "--task", "{L}", *STEP, "--output", "{O}"],
    "classify eval": ["classify", "eval", "{M}", "--task", "{L}"],
    "classify predict": ["classify", "predict", "{M}", "the cat"],
    "export": ["export", "{M}", "{O}"],
    "cross-encoder train": ["cross-encoder", "train", "--model", "{M}", "--task", "{P}", *STEP, "--output", "{O}"],
    "cross-encoder score": ["cross-encoder", "score", "{M}", "--input", "{P}"],
    "cross-encoder rerank": ["cross-encoder", "rerank", "{M}", "the cat", "--input", "{T}"],
    "mlm train": ["mlm", "train", "--model", "{M}", "--data", "{T}", *STEP, "--output", "{O}"],
    "mlm eval": ["mlm", "eval", "{M}", "--data", "{T}"],
    # a recipe run is long: only its output folder, and a damaged run to resume, are tried
    "recipe": ["recipe", "korean", "--base", "{M}", "--output", "{R}", "--resume"],
    "trim-vocab": ["trim-vocab", "{M}", "{O}", "--keep-script", "latin", "--corpus", "{T}"],
    "serve": ["serve", "{M}", "--port", "59999"],  # every model breakage must stop it before it listens
}
# roles a command's template has that are NOT broken (recipe's model is read late, after its data)
NOT_BROKEN = {"recipe": {"M"}}
# breakages twinbert works around (the compiled-graph cache is rebuilt elsewhere), so the command runs
BENIGN = {"compiled-cache-is-a-file"}
# commands whose valid model is a checkpoint with a sequence-classification head
HEADED = {"classify eval", "classify predict", "cross-encoder score", "cross-encoder rerank"}


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield " ".join(path)
        return
    for name, sub in subs[0].choices.items():
        yield from leaves(sub, (*path, name))


def _model_breakages(tiny: Path, root: Path) -> dict[str, Path]:
    def copy(name: str) -> Path:
        return shutil.copytree(tiny, root / name)

    root.mkdir()
    broken = {"missing": root / "no-such-model"}
    (root / "model-file").write_text("not a folder")
    broken["a-file"] = root / "model-file"
    (root / "model-empty").mkdir()
    broken["empty-folder"] = root / "model-empty"
    for name, garbage in (("config.json", "{nope"), ("modules.json", "[{"), ("tokenizer.json", "\x00\x01"),
                          ("tokenizer_config.json", "[1, 2"), ("1_Pooling/config.json", "}")):
        folder = copy(f"model-bad-{name.replace('/', '-')}")
        if (folder / name).exists() or name == "modules.json":
            (folder / name).write_text(garbage)
            broken[f"garbage-{name}"] = folder
    folder = copy("model-no-weights")
    (folder / "model.safetensors").unlink()
    broken["no-weights"] = folder
    folder = copy("model-cut-weights")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    broken["cut-weights"] = folder
    folder = copy("model-weights-folder")
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").mkdir()
    broken["weights-is-folder"] = folder
    folder = copy("model-cache-is-file")  # the runtime's compiled-graph cache folder is a regular file
    shutil.rmtree(folder / ".twinbert-compiled", ignore_errors=True)  # copied when earlier tests compiled a graph
    (folder / ".twinbert-compiled").write_text("not a folder")
    broken["compiled-cache-is-a-file"] = folder
    return broken


def _file_breakages(root: Path, suffix: str) -> dict[str, Path]:
    root.mkdir()
    (root / f"empty{suffix}").write_text("")
    (root / f"binary{suffix}").write_bytes(b"\xff\xfe\x00\x9c garbage \x80\x81\n" * 4)
    (root / f"dir{suffix}").mkdir()
    return {"missing": root / f"nope{suffix}", "empty": root / f"empty{suffix}", "binary": root / f"binary{suffix}",
            "a-folder": root / f"dir{suffix}"}


def _output_breakages(root: Path, suffix: str = "") -> dict[str, Path]:
    root.mkdir()
    (root / "a-file").write_text("mine")
    return {"is-a-file": root / "a-file", "under-a-file": root / "a-file" / f"out{suffix}"}


def _index_breakages(index: Path, root: Path) -> dict[str, Path]:
    root.mkdir()
    (root / "file").write_text("not an index")
    (root / "empty").mkdir()
    broken = {"missing": root / "nope", "a-file": root / "file", "empty-folder": root / "empty"}
    for name, damage in (("meta.json", "{garbage"), ("items.jsonl", "{not json\n"), ("vectors.npy", "")):
        folder = shutil.copytree(index, root / f"bad-{name}")
        (folder / name).write_text(damage)
        broken[f"garbage-{name}"] = folder
    folder = shutil.copytree(index, root / "no-vectors")
    (folder / "vectors.npy").unlink()
    broken["no-vectors"] = folder
    return broken


def _recipe_breakages(root: Path) -> dict[str, Path]:
    root.mkdir()
    broken = {}
    for name, text in (("garbage", "{not json"), ("a-list", "[1, 2]"), ("empty", "")):
        (root / name).mkdir()
        (root / name / "recipe.json").write_text(text)
        broken[f"recipe.json-{name}"] = root / name
    (root / "file").write_text("x")
    broken["is-a-file"] = root / "file"
    return broken


@pytest.fixture(scope="module")
def runs(tiny_bert, tmp_path_factory):
    import twinbert
    from twinbert.search import Index

    work = tmp_path_factory.mktemp("notrace")
    d = work / "DIR"
    d.mkdir()
    valid = {"M": str(tiny_bert), "T": str(d / "texts.txt"), "P": str(d / "pairs.tsv"), "L": str(d / "labelled.tsv"),
             "I": str(d / "index"), "F": str(d / "out.npy"), "O": str(d / "out"), "R": str(d / "run")}
    (d / "texts.txt").write_text("the cat sat on the mat\ni love paris\n", encoding="utf-8")
    (d / "pairs.tsv").write_text(STS, encoding="utf-8")
    (d / "labelled.tsv").write_text(LABELLED, encoding="utf-8")
    headed = str(build_tiny_bert(work / "headed", head="BertForSequenceClassification"))
    encoder = twinbert.load(str(tiny_bert), device="cpu", backend="torch")
    Index.build(texts=["the cat sat", "i love paris"], encoder=encoder).save(d / "index")
    broken = {"M": _model_breakages(tiny_bert, work / "models"),
              "T": _file_breakages(work / "texts", ".txt"), "P": _file_breakages(work / "pairs", ".tsv"),
              "L": _file_breakages(work / "labelled", ".tsv"), "O": _output_breakages(work / "outputs"),
              "F": _output_breakages(work / "files", ".npy"), "I": _index_breakages(d / "index", work / "indexes"),
              "R": _recipe_breakages(work / "runs")}
    broken["F"]["a-folder"] = broken["T"]["a-folder"]
    cases = {}
    for command, template in TEMPLATES.items():
        roles = {r for r in valid if "{" + r + "}" in " ".join(template)} - NOT_BROKEN.get(command, set())
        for role in sorted(roles):
            for kind, path in broken[role].items():
                if command == "serve" and kind in BENIGN:
                    continue  # a working model: serve would listen, not exit
                # a fresh output each, so that one case's result is not the next one's obstacle
                values = {**valid, "M": headed if command in HEADED else valid["M"], "O": f"{valid['O']}{len(cases)}",
                          role: str(path)}
                cases[f"{command} | {role}:{kind}"] = [a.format(**values) for a in template]
    return cases, run_cli_batch(cases, work, cli_env(work / "hf"))


def test_every_subcommand_has_a_template():
    assert sorted(leaves(build_parser())) == sorted(TEMPLATES)


def test_no_traceback_for_any_broken_environment(runs):
    cases, out = runs
    bad = {name: r["stderr"][-1500:] for name, r in out.items() if "Traceback" in r["stderr"] or r["rc"] not in (0, 2)}
    assert not bad, f"{len(bad)} of {len(cases)} cases end in a traceback:\n" + "\n".join(
        f"--- {name} (rc {out[name]['rc']})\n{stderr}" for name, stderr in list(bad.items())[:8])
    # the errors are one line, never Python's own words
    for name, result in out.items():
        if result["rc"] == 2:
            errors = [line for line in result["stderr"].splitlines() if "error" in line.lower()]
            assert len(errors) == 1, (name, result["stderr"][-1500:])
