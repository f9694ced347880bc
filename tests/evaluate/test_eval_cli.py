"""`twinbert eval` and `twinbert sweep` on the tiny random model: the JSON contract, every task kind,
generic files, and the errors (exit 2, one line on stderr, before the model is even loaded)."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
from conftest import DATA

from twinbert.cli.main import main

MISSING_MODEL = "/nonexistent/model-folder"  # data errors must come before the model is loaded
STS_KEYS = {f"{c}_{s}" for c in ("spearman", "pearson") for s in ("cosine", "euclidean", "manhattan", "dot")}
SENTENCES = ["the cat sat on the mat .", "a dog ran in the park .", "i love paris", "the woman is happy",
             "a man play guitar", "the food is very good", "it is not fun", "the duck is on the table"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def sts_file(tmp_path):
    rows = [f"{SENTENCES[i % 8]}\t{SENTENCES[(i * 3 + 1) % 8]}\t{(i * 7) % 6}" for i in range(24)]
    return write(tmp_path / "pairs.tsv", ["sentence1\tsentence2\tscore"] + rows)


def test_stsb_json_contract(capsys, tiny_bert, tmp_path):
    code, out, err = run(capsys, "eval", tiny_bert, "--task", "stsb", "--split", "test", "--json",
                         "--data-root", DATA, "--output", tmp_path / "r.json")
    assert code == 0, err
    doc = json.loads(out)  # the whole of stdout is one JSON document
    assert doc["task"] == "stsb" and doc["split"] == "test" and doc["evaluation"] == "sts"
    assert set(doc["metrics"]) == STS_KEYS and all(-1 <= v <= 1 for v in doc["metrics"].values())
    sha = hashlib.sha256((DATA / "stsb" / "sts-test.csv").read_bytes()).hexdigest()
    assert doc["data"]["sha256"] == sha and doc["data"]["rows"] == 1379
    assert set(doc["versions"]) >= {"twinbert", "torch", "transformers"}
    assert {"pooling", "layers", "precision", "device", "seconds"} <= set(doc["settings"])
    assert doc["settings"]["pooling"] == "mean" and doc["settings"]["layers"] == "last"
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["metrics"] == doc["metrics"]


def test_generic_sts_file_table_and_plot(capsys, tiny_bert, sts_file, tmp_path):
    code, out, err = run(capsys, "eval", tiny_bert, "--task", "sts", "--data", sts_file,
                         "--columns", "sentence1,sentence2,score", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["task"] == "sts" and set(doc["metrics"]) >= STS_KEYS
    assert doc["data"]["path"] == str(sts_file) and doc["data"]["rows"] == 24
    # human output, another pooling and layer, a scatter plot into a folder
    code, out, err = run(capsys, "eval", tiny_bert, "--task", "sts", "--data", sts_file, "--pooling", "cls",
                         "--layers", "first-last", "--plot", tmp_path / "plots")
    assert code == 0, err
    assert "spearman" in out and "main metric spearman_cosine" in out and "layers first-last" in out
    png = tmp_path / "plots" / "sts-pairs-scatter.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    # indexes for a file without header, and a declared score range
    headless = write(tmp_path / "h.tsv", [f"{a}\t{b}\t{float(s) * 2}" for a, b, s in
                                          (line.split("\t") for line in sts_file.read_text().splitlines()[1:])])
    code, out, err = run(capsys, "eval", tiny_bert, "--task", "sts", "--data", headless, "--columns", "0,1,2",
                         "--score-range", "0,10", "--json")
    assert code == 0, err
    assert json.loads(out)["metrics"]["spearman_cosine"] == pytest.approx(
        json.loads(run(capsys, "eval", tiny_bert, "--task", "sts", "--data", sts_file, "--json")[1])
        ["metrics"]["spearman_cosine"], abs=1e-9)


@pytest.fixture
def bad_files(tmp_path):
    good = [f"{SENTENCES[i]}\t{SENTENCES[i + 1]}\t{i % 5}" for i in range(6)]
    files = {
        "range": ["sentence1\tsentence2\tscore", *good, "a cat\ta dog\t7"],
        "nan": ["sentence1\tsentence2\tscore", *good, "a cat\ta dog\tnan"],
        "empty": ["sentence1\tsentence2\tscore"],
        "constant": ["sentence1\tsentence2\tscore", "a cat\ta dog\t3", "i love\tthe park\t3"],
        "labels": ["sentence1\tsentence2\tlabel", "a cat\ta dog\t1", "i love\tthe park\t2"],
    }
    (tmp_path / "empty_root").mkdir()
    return {name: write(tmp_path / f"{name}.tsv", lines) for name, lines in files.items()} | {"root": tmp_path / "empty_root"}


@pytest.mark.parametrize("args, message", [
    (["--task", "sts", "--data", "{range}"], "line 8, field 'score': '7' is outside 0..5"),
    (["--task", "sts", "--data", "{nan}"], "is NaN"),
    (["--task", "sts", "--data", "{empty}"], "no rows"),
    (["--task", "sts", "--data", "{constant}"], "scores that vary"),
    (["--task", "sts", "--data", "{range}", "--columns", "a,b,score"], "column 'a' is missing from the header"),
    (["--task", "sts", "--data", "{range}", "--columns", "sentence1,sentence2"], "2 given, task 'sts' needs 3: sentence1, sentence2, score"),
    (["--task", "sts", "--data", "{range}", "--score-range", "5,0"], "LOW < HIGH"),
    (["--task", "sts"], "give --data=FILE"),
    (["--task", "pairs", "--data", "{labels}"], "'2' is not a known label"),
    (["--task", "stsx"], "task 'stsx': unknown"),
    (["--task", "stsb", "--split", "validation", "--data-root", DATA], "split 'validation' of task 'stsb'"),
    (["--task", "stsb", "--data-root", "{root}"], "not found (task 'stsb', split 'test')"),
    (["--task", "stsb", "--data-root", DATA, "--columns", "a,b,c"], "fixed format"),
    (["--task", "sst2", "--data-root", DATA], "classifier head"),
    (["--task", "wikitext2", "--data-root", DATA], "unlabelled text"),
    (["--task", "mrpc", "--data-root", DATA, "--limit", "20", "--plot", "x.png"], "plots exist for STS"),
    (["--task", "stsb", "--data-root", DATA, "--threshold-split", "dev"], "threshold data applies to pair"),
])
def test_errors_exit_2_before_loading_the_model(capsys, bad_files, args, message):
    argv = [a.format(**{k: str(v) for k, v in bad_files.items()}) if isinstance(a, str) else a for a in args]
    code, out, err = run(capsys, "eval", MISSING_MODEL, *argv, "--json")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("twinbert eval: error: ")
    assert message in err


def test_model_is_loaded_after_the_data_checks(capsys, sts_file):
    code, out, err = run(capsys, "eval", MISSING_MODEL, "--task", "sts", "--data", sts_file)
    assert code == 2 and err.startswith("twinbert eval: error: ") and "model-folder" in err


def test_pair_triplet_nli_and_threshold_split(capsys, tiny_bert, tmp_path):
    pairs = write(tmp_path / "p.csv", ["a,b,y"] + [f"{SENTENCES[i]},{SENTENCES[(i + 2) % 8]},{i % 2}" for i in range(8)])
    code, out, err = run(capsys, "eval", tiny_bert, "--task", "pairs", "--data", pairs, "--columns", "a,b,y", "--json")
    assert code == 0, err
    assert {"cosine_accuracy", "cosine_f1_threshold", "euclidean_ap", "manhattan_mcc"} <= set(json.loads(out)["metrics"])
    triplets = write(tmp_path / "t.jsonl", [json.dumps({"anchor": SENTENCES[i], "positive": SENTENCES[i + 1],
                                                        "negative": SENTENCES[i + 2]}) for i in range(5)])
    code, out, err = run(capsys, "eval", tiny_bert, "--task", "triplets", "--data", triplets, "--json")
    assert code == 0, err
    assert set(json.loads(out)["metrics"]) == {"cosine_accuracy", "euclidean_accuracy", "manhattan_accuracy",
                                               "dot_accuracy"}
    nli = write(tmp_path / "n.tsv", ["premise\thypothesis\tlabel", f"{SENTENCES[0]}\t{SENTENCES[1]}\tentailment",
                                     f"{SENTENCES[0]}\t{SENTENCES[2]}\tcontradiction",
                                     f"{SENTENCES[0]}\t{SENTENCES[3]}\tneutral"])
    code, out, err = run(capsys, "eval", tiny_bert, "--task", "nli", "--data", nli, "--json")
    assert code == 0, err
    assert json.loads(out)["data"]["triplets"] == 1
    code, out, err = run(capsys, "eval", tiny_bert, "--task", "mrpc", "--data-root", DATA, "--limit", "40",
                         "--threshold-split", "dev", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["split"] == "test" and doc["evaluation"] == "binary" and doc["data"]["rows"] == 40
    assert doc["data"]["thresholds_from"]["path"].endswith("mrpc/dev.tsv")


def test_retrieval_on_a_small_cranfield_folder(capsys, tiny_bert, tmp_path):
    folder = tmp_path / "cran"
    folder.mkdir()
    docs = []
    for i, text in enumerate(SENTENCES, 1):
        docs += [f".I {i}", ".T", "title", ".A", "author", ".B", "journal", ".W", text]
    write(folder / "cran.all.1400", docs)
    write(folder / "cran.qry", [".I 001", ".W", "the cat on the mat", ".I 003", ".W", "a dog in the park"])
    write(folder / "cranqrel", ["1 1 -1", "1 8 3", "2 2 -1"])
    code, out, err = run(capsys, "eval", tiny_bert, "--task", "cranfield", "--data", folder, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["evaluation"] == "retrieval" and doc["data"]["queries"] == 2 and doc["data"]["corpus"] == 8
    assert {"cosine_mrr@10", "cosine_ndcg@10", "cosine_map@100", "cosine_recall@100", "cosine_accuracy@1"} <= set(doc["metrics"])
    assert doc["metrics"]["cosine_recall@100"] == 1.0  # 8 documents: everything is retrieved
    pytest.importorskip("faiss")
    code, out, err = run(capsys, "eval", tiny_bert, "--task", "cranfield", "--data", folder, "--index", "hnsw",
                         "--json")
    assert code == 0, err
    approx = json.loads(out)
    assert approx["settings"]["index"] == "hnsw"
    assert approx["metrics"] == pytest.approx(doc["metrics"], abs=1e-6)  # 8 documents: nothing to miss
    code, out, err = run(capsys, "eval", tiny_bert, "--task", "mrpc", "--data-root", DATA, "--index", "ivf")
    assert code == 2 and "--index" in err and "retrieval tasks" in err


def test_sweep_command(capsys, tiny_bert, sts_file, tmp_path):
    code, out, err = run(capsys, "sweep", tiny_bert, "--task", "sts", "--data", sts_file, "--json",
                         "--plot", tmp_path / "sweep.png", "--poolings", "cls,mean,pooler")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["poolings"] == ["cls", "mean", "pooler"] and doc["columns"] == ["0", "1", "2", "first-last"]
    assert doc["best"]["spearman_cosine"] == max(v for row in doc["table"].values() for v in row.values()
                                                 if v is not None)
    assert (tmp_path / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    code, out, err = run(capsys, "sweep", tiny_bert, "--task", "sts", "--data", sts_file)
    assert code == 0 and "pooling \\ layer" in out and "best:" in out
    code, out, err = run(capsys, "sweep", MISSING_MODEL, "--task", "mrpc", "--data-root", DATA)
    assert code == 2 and "the sweep scores STS data" in err


def test_entry_point_prints_only_json(tiny_bert, sts_file):
    proc = subprocess.run([sys.executable, "-m", "twinbert", "eval", str(tiny_bert), "--task", "sts", "--data",
                           str(sts_file), "--columns", "sentence1,sentence2,score", "--json"],
                          capture_output=True, text=True, timeout=120, env={**__import__("os").environ,
                                                                             "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads(proc.stdout)["metrics"]) >= STS_KEYS
