"""twinbert index build/add, search and mine through the command line (tiny random model)."""
from __future__ import annotations

import contextlib
import io
import json
import types

import numpy as np
import pytest

import twinbert
from twinbert.cli.main import main

TEXTS = ["the cat sat on the mat", "the dog sat on the mat", "i love paris", "soccer is a really fun game",
         "the cat is happy", "music and guitar"]


def cli(*args):
    """Run the CLI in-process (the real parser and error handling; tests/test_cli.py covers the
    process boundary) and return (returncode, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return types.SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


@pytest.fixture(scope="module")
def texts_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "texts.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    return path


def test_mine_json_matches_library(tiny_bert, texts_file):
    done = cli("mine", texts_file, "--model", tiny_bert, "--top", 4, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    triples, skipped = result["pairs"], result["skipped_empty"]
    assert skipped == 0
    enc = twinbert.load(str(tiny_bert))
    expected = twinbert.paraphrase_mining(enc.encode(TEXTS), max_pairs=4)
    assert [[i, j] for _, i, j in triples] == [[i, j] for _, i, j in expected]
    np.testing.assert_allclose([s for s, _, _ in triples], [s for s, _, _ in expected], atol=1e-5)
    assert all(i < j for _, i, j in triples) and len(triples) == 4


def test_index_build_add_search(tiny_bert, texts_file, tmp_path):
    index = tmp_path / "idx"
    done = cli("index", "build", index, "--input", texts_file, "--model", tiny_bert, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["count"] == len(TEXTS)
    more = tmp_path / "more.txt"
    more.write_text("a rubber duck on the table\n", encoding="utf-8")
    done = cli("index", "add", index, "--input", more, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["count"] == len(TEXTS) + 1
    done = cli("search", index, "a rubber duck on the table", "-k", 3, "--json")
    assert done.returncode == 0, done.stderr
    hits = json.loads(done.stdout)["results"][0]["hits"]
    assert hits[0]["text"] == "a rubber duck on the table" and hits[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert [h["rank"] for h in hits] == [1, 2, 3]


def test_search_refuses_other_model(tiny_bert, texts_file, tmp_path):
    from conftest import build_tiny_bert

    index = tmp_path / "idx"
    assert cli("index", "build", index, "--input", texts_file, "--model", tiny_bert).returncode == 0
    other = build_tiny_bert(tmp_path / "other", seed=3)
    done = cli("search", index, "the cat", "--model", other)
    assert done.returncode == 2 and "force" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert cli("search", index, "the cat", "--model", other, "--force").returncode == 0


def test_mine_bad_top(tiny_bert, texts_file, capsys):
    with pytest.raises(SystemExit) as stopped:  # a usage error now: argparse refuses it
        main(["mine", str(texts_file), "--model", str(tiny_bert), "--top", "0"])
    assert stopped.value.code == 2 and "--top" in capsys.readouterr().err


def test_index_tune_and_recall_target(tmp_path):
    pytest.importorskip("faiss")
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((30, 24))
    vectors = (centers[rng.integers(0, 30, 3000)] + rng.standard_normal((3000, 24))).astype(np.float32)
    np.save(tmp_path / "v.npy", vectors)
    done = cli("index", "build", tmp_path / "ix", "--embeddings", tmp_path / "v.npy", "--model", "m",
               "--backend", "hnsw", "--param", "M=8", "--param", "ef_construction=16", "--recall-target", "0.97",
               "--json")
    assert done.returncode == 0, done.stderr
    built = json.loads(done.stdout)
    assert built["tuning"]["target"] == 0.97 and built["tuning"]["recall_low"] >= 0.97
    assert built["backend_params"]["ef_search"] == built["tuning"]["value"]

    done = cli("index", "tune", tmp_path / "ix", "--recall", "0.8", "-k", "5", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["queries_from"] == "stored rows" and report["k"] == 5
    assert report["value"] <= built["tuning"]["value"]
    assert twinbert.search.Index.load(tmp_path / "ix").backend_params["ef_search"] == report["value"]
    done = cli("index", "tune", tmp_path / "ix", "--recall", "0.8")
    assert done.returncode == 0 and "<-" in done.stdout and "recall@10" in done.stdout

    done = cli("index", "build", tmp_path / "flat", "--embeddings", tmp_path / "v.npy", "--model", "m")
    assert done.returncode == 0, done.stderr
    done = cli("index", "tune", tmp_path / "flat")
    assert done.returncode == 2 and "exact" in done.stderr
    done = cli("index", "tune", tmp_path / "ix", "--recall", "1.5")
    assert done.returncode == 2 and "recall target" in done.stderr
