"""The `twinbert` command: encode (txt/csv/tsv/jsonl -> .npy/.jsonl), similarity, compare, info.

Every result is checked against the library on the same model: the CLI must write exactly what
`twinbert.load(MODEL).encode(texts)` returns. The subcommands run in one child process (see
run_cli_batch: each case is `python -m twinbert ARGS` executed with runpy, so argument parsing,
output and exit codes go through the real entry point without paying the torch import per case);
the stdout/stderr split and --help are checked on real `python -m twinbert` processes.
"""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import build_tiny_bert

import twinbert
from twinbert.similarity import similarity

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TXT_TEXTS = ["the cat sat on the mat .", "", "i love paris", "  a dog is happy", "soccer is fun !"]
CSV_TEXTS = ["hello, world", "line one\nline two", "", 'she said "hi", then left', "the dog, the cat, and the duck"]
TSV_TEXTS = ["the cat", 'a "quoted" word', "", "soccer is fun"]
JSONL_TEXTS = ["café ☕ ünïcode", "", "the woman plays guitar", "i love paris"]
SENTENCES = ["the cat sat on the mat", "a dog sat on the mat", "i love soccer"]
COMPARE = ["the cat is happy", "the dog is happy", "i love music"]
MINILM_SENTENCES = ["A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell sharply today."]

from cli_runner import cli_env, run_cli_batch  # noqa: E402


# ----------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def inputs(work) -> dict[str, Path]:
    d = {"txt": work / "in.txt", "csv": work / "in.csv", "tsv": work / "in.tsv", "jsonl": work / "in.jsonl"}
    d["txt"].write_text("\n".join(TXT_TEXTS) + "\n", encoding="utf-8")
    with open(d["csv"], "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text", "label"])
        writer.writerows([k, t, "x,y"] for k, t in enumerate(CSV_TEXTS))
    d["tsv"].write_text("id\ttext\n" + "".join(f"{k}\t{t}\n" for k, t in enumerate(TSV_TEXTS)), encoding="utf-8")
    d["jsonl"].write_text("".join(json.dumps({"id": k, "text": t, "meta": {"text": "not this"}}, ensure_ascii=False)
                                  + "\n" for k, t in enumerate(JSONL_TEXTS)), encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def nopool(work) -> Path:
    return build_tiny_bert(work / "nopool", with_pooler=False, seed=3)


@pytest.fixture(scope="module")
def tiny(tiny_bert):
    return twinbert.load(str(tiny_bert), device="cpu")


@pytest.fixture(scope="module")
def cli(tiny_bert, nopool, inputs, work):
    out = work / "out"
    out.mkdir()
    t, n = str(tiny_bert), str(nopool)

    def enc(kind, output, *extra):
        column = [] if kind == "txt" else ["--column", "text"]
        return ["encode", "--model", t, "--input", str(inputs[kind]), *column, "--output", str(out / output), *extra]

    cases = {
        "encode_txt": enc("txt", "txt.npy", "--json"),
        "encode_csv": enc("csv", "csv.npy", "--json", "-q"),
        "encode_tsv": enc("tsv", "tsv.npy", "--json", "-q"),
        "encode_jsonl": enc("jsonl", "out.jsonl", "--json", "-q"),
        "encode_options": enc("txt", "options.npy", "--json", "-q", "--pooling", "cls+max", "--layers", "first-last",
                              "--normalize", "--chunk-rows", "2"),
        "encode_text_summary": enc("txt", "summary.npy", "-q"),
        "similarity_json": ["similarity", *SENTENCES, "--model", t, "--json"],
        "similarity_dot": ["similarity", *SENTENCES, "--model", t, "--metric", "dot", "--json"],
        "similarity_plot": ["similarity", *SENTENCES, "--model", t, "--plot", str(out / "heat.png")],
        "compare_json": ["compare", *COMPARE, "--models", t, "--poolings", "cls,mean,max", "--json",
                         "--plot", str(out / "bars.png")],
        "compare_pooler": ["compare", *COMPARE, "--models", t, "--poolings", "pooler", "--json"],
        "compare_no_pooler": ["compare", *COMPARE, "--models", n, "--poolings", "cls,pooler,mean", "--json"],
        "compare_no_pooler_text": ["compare", *COMPARE, "--models", n, "--poolings", "pooler,mean"],
        "info_json": ["info", t, "--json"],
        "info_no_pooler": ["info", n, "--json"],
        "info_text": ["info", t],
        "minilm_info": ["info", "all-MiniLM-L6-v2", "--json"],
        "minilm_similarity": ["similarity", *MINILM_SENTENCES, "--json"],  # no --model: the default one
    }
    env = cli_env(work / "hf")
    # a real process alongside the batch: is stdout exactly one JSON document, with progress on stderr?
    real = subprocess.Popen([sys.executable, "-m", "twinbert", *enc("txt", "real.npy", "--json")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = run_cli_batch(cases, work, env)
    stdout, stderr = real.communicate(timeout=600)
    results["real"] = {"rc": real.returncode, "stdout": stdout, "stderr": stderr}
    return {"out": out, "results": results}


def ok(cli, name) -> dict:
    result = cli["results"][name]
    assert result["rc"] == 0, result["stderr"][-3000:]
    return result


def ok_json(cli, name) -> dict:
    return json.loads(ok(cli, name)["stdout"])


# ------------------------------------------------------------------------------------------- encode
@pytest.mark.parametrize("name,kind,output,texts", [
    ("encode_txt", "txt", "txt.npy", TXT_TEXTS),
    ("encode_csv", "csv", "csv.npy", CSV_TEXTS),
    ("encode_tsv", "tsv", "tsv.npy", TSV_TEXTS),
])
def test_encode_to_npy_matches_the_library(cli, tiny, inputs, name, kind, output, texts):
    summary = ok_json(cli, name)
    path = cli["out"] / output
    assert summary["rows"] == len(texts) and summary["dimension"] == 32
    assert summary["output"] == str(path) and summary["input"] == str(inputs[kind])
    vectors = np.load(path)
    assert vectors.dtype == np.float32 and vectors.shape == (len(texts), 32)
    np.testing.assert_allclose(vectors, tiny.encode(texts), atol=1e-6, rtol=0)


def test_encode_jsonl_to_jsonl(cli, tiny):
    summary = ok_json(cli, "encode_jsonl")
    assert summary["rows"] == len(JSONL_TEXTS) and summary["dimension"] == 32
    rows = [json.loads(line) for line in (cli["out"] / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["index"] for r in rows] == list(range(len(JSONL_TEXTS)))
    assert [r["text"] for r in rows] == JSONL_TEXTS
    np.testing.assert_allclose(np.array([r["embedding"] for r in rows]), tiny.encode(JSONL_TEXTS), atol=1e-6, rtol=0)


def test_encode_passes_pooling_layers_and_normalize_through(cli, tiny):
    summary = ok_json(cli, "encode_options")
    assert summary["dimension"] == 64
    settings = summary["settings"]  # what shaped these vectors, not the model's defaults
    assert settings["pooling"] == "cls+max" and settings["layers"] == "first-last"
    assert settings["normalize"] is True and settings["dimension"] == 64
    vectors = np.load(cli["out"] / "options.npy")
    expected = tiny.encode(TXT_TEXTS, pooling="cls+max", layers="first-last", normalize=True)
    np.testing.assert_allclose(vectors, expected, atol=1e-6, rtol=0)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(vectors, tiny.encode(TXT_TEXTS, pooling="cls+max", normalize=True), atol=1e-3)


def test_encode_without_json_prints_one_summary_line(cli):
    stdout = ok(cli, "encode_text_summary")["stdout"]
    assert stdout.startswith(f"wrote {len(TXT_TEXTS)} x 32 embeddings to {cli['out'] / 'summary.npy'} in ")
    assert stdout.count("\n") == 1 and stdout.endswith("rows/s)\n")


def test_quiet_encode_writes_nothing_on_stderr(cli):
    assert ok(cli, "encode_csv")["stderr"] == ""
    assert "encode: " in ok(cli, "encode_txt")["stderr"]  # the same command without -q shows progress


def test_quiet_encode_keeps_quiet_while_the_runtime_compiles_its_graph(tmp_path):
    """-q leaves out the notes as well as the progress: a model encoded for the first time compiles its
    runtime graph (an INFO note) and -q still writes nothing on stderr; without -q the note shows."""
    model = build_tiny_bert(tmp_path / "fresh")
    (tmp_path / "in.txt").write_text("a cat\nthe dog sat\n", encoding="utf-8")
    env = cli_env(tmp_path / "hf")
    quiet = subprocess.run([sys.executable, "-m", "twinbert", "encode", "--model", str(model), "--input",
                            str(tmp_path / "in.txt"), "--output", str(tmp_path / "q.npy"), "-q"],
                           env=env, capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    assert (model / ".twinbert-compiled").is_dir()  # it did compile
    shutil.rmtree(model / ".twinbert-compiled")
    loud = subprocess.run([sys.executable, "-m", "twinbert", "encode", "--model", str(model), "--input",
                           str(tmp_path / "in.txt"), "--output", str(tmp_path / "l.npy")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert loud.returncode == 0 and "INFO: compiling " in loud.stderr, loud.stderr


def test_real_process_json_on_stdout_progress_on_stderr(cli, tiny):
    result = ok(cli, "real")
    summary = json.loads(result["stdout"])  # exactly one JSON document, nothing else on stdout
    assert summary["rows"] == len(TXT_TEXTS) and summary["dimension"] == 32
    assert set(summary) >= {"input", "output", "rows", "dimension", "seconds", "settings"}
    assert f"encode: {len(TXT_TEXTS)}/{len(TXT_TEXTS)} rows" in result["stderr"]
    assert "encode:" not in result["stdout"]
    np.testing.assert_allclose(np.load(summary["output"]), tiny.encode(TXT_TEXTS), atol=1e-6, rtol=0)


def test_no_temp_files_left(cli):
    assert [p.name for p in cli["out"].iterdir() if p.name.startswith(".")] == []


# --------------------------------------------------------------------------------------- similarity
def test_similarity_json_matrix(cli, tiny):
    result = ok_json(cli, "similarity_json")
    matrix = np.array(result["matrix"])
    assert result["metric"] == "cosine" and result["sentences"] == SENTENCES and matrix.shape == (3, 3)
    np.testing.assert_allclose(matrix, matrix.T, atol=1e-6)
    np.testing.assert_allclose(np.diag(matrix), 1.0, atol=1e-5)
    vectors = tiny.encode(SENTENCES)
    np.testing.assert_allclose(matrix, similarity(vectors, vectors), atol=1e-5)
    assert not np.allclose(matrix, 1.0, atol=1e-3)  # the sentences do differ


def test_similarity_dot_metric(cli, tiny):
    matrix = np.array(ok_json(cli, "similarity_dot")["matrix"])
    vectors = tiny.encode(SENTENCES)
    np.testing.assert_allclose(matrix, vectors @ vectors.T, rtol=1e-5, atol=1e-4)


def test_similarity_plot_and_table(cli):
    stdout = ok(cli, "similarity_plot")["stdout"]
    data = (cli["out"] / "heat.png").read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR" and len(data) > 1000
    lines = stdout.splitlines()
    assert len(lines) == 2 + len(SENTENCES)  # header, rule, one row per sentence
    assert lines[0].split() == ["sentence", "0", "1", "2"]
    assert lines[2].startswith("0: the cat sat on the mat") and lines[2].split()[-3] == "1.0000"


def test_twinbert_similarity_is_still_the_function_after_the_cli_ran():
    """`twinbert.similarity` is the public similarity function. Importing the submodule of the same
    name (as `twinbert similarity` does) must not replace it with the module."""
    import twinbert.cli.similarity  # noqa: F401  (imports twinbert.similarity, the module)
    import twinbert.similarity  # noqa: F401

    assert twinbert.similarity is similarity
    np.testing.assert_allclose(twinbert.similarity(np.eye(2), np.eye(2)), np.eye(2))


# ------------------------------------------------------------------------------------------ compare
def _cosine(a, b) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_compare_one_column_per_pooling(cli, tiny):
    result = ok_json(cli, "compare_json")
    assert result["anchor"] == COMPARE[0] and result["sentences"] == COMPARE[1:]
    assert [c["pooling"] for c in result["columns"]] == ["cls", "mean", "max"] and result["skipped"] == []
    for column in result["columns"]:
        vectors = tiny.encode(COMPARE, pooling=column["pooling"])
        expected = [_cosine(vectors[0], vectors[k]) for k in (1, 2)]
        assert len(column["scores"]) == 2
        np.testing.assert_allclose(column["scores"], expected, atol=1e-5)
    assert not np.allclose(result["columns"][0]["scores"], result["columns"][1]["scores"], atol=1e-4)
    data = (cli["out"] / "bars.png").read_bytes()
    assert result["plot"] == str(cli["out"] / "bars.png") and data[:8] == PNG_MAGIC


def test_compare_pooler_on_a_model_with_pooler(cli, tiny):
    result = ok_json(cli, "compare_pooler")
    assert [c["pooling"] for c in result["columns"]] == ["pooler"] and result["skipped"] == []
    vectors = tiny.encode(COMPARE, pooling="pooler")
    np.testing.assert_allclose(result["columns"][0]["scores"],
                               [_cosine(vectors[0], vectors[k]) for k in (1, 2)], atol=1e-5)


def test_compare_skips_pooler_without_one(cli, nopool):
    result = ok_json(cli, "compare_no_pooler")
    assert [c["pooling"] for c in result["columns"]] == ["cls", "mean"]
    assert len(result["skipped"]) == 1
    skipped = result["skipped"][0]
    assert skipped["pooling"] == "pooler" and skipped["model"] == str(nopool) and "no trained pooler" in skipped["reason"]
    text = ok(cli, "compare_no_pooler_text")["stdout"]
    assert f"(skipped {nopool} / pooler: the model has no trained pooler)" in text
    assert text.startswith(f"anchor: {COMPARE[0]}\n")


# --------------------------------------------------------------------------------------------- info
def test_info_json(cli, tiny_bert):
    info = ok_json(cli, "info_json")
    assert info["layers"] == 2 and info["hidden_size"] == 32 and info["dimension"] == 32
    assert info["pooling"] == "mean" and info["has_pooler"] is True and info["model_type"] == "bert"
    assert info["model"] == str(tiny_bert.resolve())
    assert ok_json(cli, "info_no_pooler")["has_pooler"] is False


def test_info_text(cli):
    lines = ok(cli, "info_text")["stdout"].splitlines()
    fields = dict(line.split(None, 1) for line in lines)
    assert fields["layers"] == "2" and fields["hidden_size"] == "32" and fields["pooling"] == "mean"


# ------------------------------------------------------------------------------ the real default model
@pytest.mark.slow
def test_minilm_info(cli):
    info = ok_json(cli, "minilm_info")
    assert info["layers"] == 6 and info["hidden_size"] == 384 and info["dimension"] == 384
    assert info["pooling"] == "mean" and info["normalize"] is True
    assert info["model"] == "sentence-transformers/all-MiniLM-L6-v2"


@pytest.mark.slow
def test_minilm_similarity_default_model(cli, minilm):
    result = ok_json(cli, "minilm_similarity")
    matrix = np.array(result["matrix"])
    assert result["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    vectors = minilm.encode(MINILM_SENTENCES)
    np.testing.assert_allclose(matrix, similarity(vectors, vectors), atol=1e-5)
    assert matrix[0, 1] > 0.7 > 0.2 > matrix[0, 2]  # the paraphrase is close, the unrelated one is not


# ---------------------------------------------------------------------------------------- help etc.
def test_help_and_version(work):
    env = cli_env(work / "hf")
    top = subprocess.run([sys.executable, "-m", "twinbert", "--help"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert top.returncode == 0 and top.stdout.startswith("usage: twinbert")
    for command in ("encode", "similarity", "compare", "info"):
        assert command in top.stdout
    sub = subprocess.run([sys.executable, "-m", "twinbert", "encode", "--help"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert sub.returncode == 0 and "--column" in sub.stdout and "--output" in sub.stdout
    version = subprocess.run([sys.executable, "-m", "twinbert", "--version"], capture_output=True, text=True,
                             env=env, timeout=120)
    assert version.returncode == 0 and version.stdout.strip() == f"twinbert {twinbert.__version__}"


def test_no_subcommand_is_a_usage_error(work):
    proc = subprocess.run([sys.executable, "-m", "twinbert"], capture_output=True, text=True,
                          env=cli_env(work / "hf"), timeout=120)
    assert proc.returncode == 2 and "usage: twinbert" in proc.stderr and proc.stdout == ""
