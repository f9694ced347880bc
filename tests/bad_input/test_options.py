"""Explicit options are honoured or refused, never quietly replaced; a request the code cannot honour
is one clear error (never a traceback from FAISS or json) naming what would work."""
from __future__ import annotations

import logging

import numpy as np
import pytest
from conftest import build_tiny_bert

import twinbert
from twinbert.errors import InputError
from twinbert.search import Index


def _vectors(n: int, dim: int = 16) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)


@pytest.mark.parametrize("rows, params, works", [(1, {}, "flat"), (30, {}, "nbits=4"), (100, {}, "nbits=6"),
                                                 (2000, {"nbits": 16}, "nbits=10")])
def test_ivfpq_on_too_few_rows_says_what_would_work(rows, params, works):
    with pytest.raises(InputError, match=rf"nbits={params.get('nbits', 8)} learns .* training rows.*{works}") as e:
        Index.build(embeddings=_vectors(rows), backend="ivfpq", model_name="x", **params)
    assert e.value.argument == "nbits" and "'flat'" in str(e.value)


def test_ivfpq_explicit_nlist_is_honoured_or_refused():
    index = Index.build(embeddings=_vectors(300), backend="ivfpq", model_name="x", nlist=50, recall_target=None)
    assert index.backend_params["nlist"] == 50  # not quietly cut to 300 // 39
    with pytest.raises(InputError, match="nlist=400 .* more cells than the 300 rows"):
        Index.build(embeddings=_vectors(300), backend="ivfpq", model_name="x", nlist=400, recall_target=None)


@pytest.mark.parametrize("backend", ["ivf", "ivfpq"])
def test_explicit_nlist_above_the_rows_is_refused_by_both_ivf_backends_alike(backend):
    """ivf cut nlist=400 on 300 rows down to the row count, silently; both backends share one check."""
    index = Index.build(embeddings=_vectors(300), backend=backend, model_name="x", nlist=50, recall_target=None)
    assert index.backend_params["nlist"] == 50
    with pytest.raises(InputError, match=rf"nlist=400 for backend='{backend}' asks for more cells than the 300 rows "
                                         r"it is trained on; use nlist <= 300 \(about 7 gives") as e:
        Index.build(embeddings=_vectors(300), backend=backend, model_name="x", nlist=400, recall_target=None)
    assert e.value.argument == "nlist"
    # rows held out to tune the search knob are not trained on: the message says so, with the numbers
    with pytest.raises(InputError, match=r"than the 270 rows it is trained on \(300 rows given, 30 of them held out"):
        Index.build(embeddings=_vectors(300), backend=backend, model_name="x", nlist=290)


def test_ivfpq_train_size_below_nlist_is_refused():
    with pytest.raises(InputError, match="train_size=40 for backend='ivfpq' is fewer rows than the nlist=50") as e:
        Index.build(embeddings=_vectors(300), backend="ivfpq", model_name="x", nlist=50, train_size=40,
                    nbits=4, recall_target=None)
    assert e.value.argument == "train_size"


@pytest.mark.parametrize("chunked", [False, True])
def test_k_above_the_index_size_says_why_once(chunked, tiny_bert, caplog):
    if chunked:
        encoder = twinbert.load(str(tiny_bert), device="cpu", backend="torch")
        index = Index.build(texts=["the cat sat on the mat " * 8, "i love paris"], encoder=encoder,
                            chunking="chunks", chunk_tokens=8)
        queries, size = ["the cat"], "2 documents"
    else:
        index = Index.build(embeddings=_vectors(3), model_name="x")
        queries, size = _vectors(2), "3 rows"
    with caplog.at_level(logging.WARNING, logger="twinbert"):
        hits = index.search(queries, k=5)
        index.search(queries, k=5)
        index.search(queries, k=2)
    assert len(hits[0]) == int(size[0])
    said = [r.getMessage() for r in caplog.records if "k=5" in r.getMessage()]
    assert said == [f"k=5 asks for more hits than this index holds ({size}): each query gets at most {size[0]}"]


@pytest.mark.parametrize("backend", ["int8", "binary"])
def test_out_of_reach_advice_names_only_the_backend_used(backend, caplog, monkeypatch):
    from twinbert.search import tuning

    monkeypatch.setattr(tuning, "ladder", lambda *args: [1])  # too few candidates for recall 1.0 on 500 rows
    with caplog.at_level(logging.WARNING, logger="twinbert"):
        Index.build(embeddings=_vectors(500), backend=backend, model_name="x", recall_target=1.0)
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "out of reach" in text and "rerank" in text
    assert "ef_construction" not in text and "M /" not in text


def test_index_of_another_model_is_refused_as_such(tiny_bert, tmp_path):
    """The recorded corpus prompt ("passage") is not looked up in a model that is not the index's."""
    built_with = twinbert.load(str(tiny_bert), device="cpu", backend="torch")
    built_with.prompts = {"query": "query: ", "passage": "passage: "}
    built_with.name = "ko-model"
    index = Index.build(texts=["the cat sat", "i love paris"], encoder=built_with)
    other = twinbert.load(str(build_tiny_bert(tmp_path / "other", seed=1)), device="cpu", backend="torch")
    with pytest.raises(InputError, match=r"built with another model \('ko-model'\)") as e:
        index.search("the cat", encoder=other)
    assert e.value.argument == "force"
    with pytest.raises(InputError, match="built with another model"):
        index.add(texts=["a dog"], encoder=other)


def test_calibration_given_as_one_str_is_refused_correctly(tiny_bert):
    with pytest.raises(InputError, match="calibration must be a list .* got a single str 'A man plays.'"):
        twinbert.load(str(tiny_bert), device="cpu", backend="onnx", precision="int8", calibration="A man plays.")


def test_recipe_resume_over_a_damaged_record_names_the_file(tmp_path):
    from twinbert.recipes.korean import run_korean_recipe

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "recipe.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match=r"run/recipe.json: is damaged, not readable JSON.*overwrite=True") as e:
        run_korean_recipe(tmp_path / "run", resume=True, show_progress=False)
    assert e.value.argument == "overwrite"
    assert (tmp_path / "run" / "recipe.json").read_text(encoding="utf-8") == "{not json"
    with pytest.raises(InputError, match="no recipe run to resume"):
        run_korean_recipe(tmp_path / "new", resume=True, show_progress=False)
    assert not (tmp_path / "new").exists()


def test_trim_refuses_an_empty_corpus_file(tiny_bert, tmp_path):
    from twinbert.modules.trim import trim_to_folder

    (tmp_path / "empty.txt").write_text("\n\n", encoding="utf-8")
    encoder = twinbert.load(str(tiny_bert), device="cpu", backend="torch")
    with pytest.raises(InputError, match="empty.txt: no texts in this corpus file"):
        trim_to_folder(encoder, tmp_path / "out", "latin", corpus_files=[tmp_path / "empty.txt"])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("suffix", [".npy", ".jsonl"])
def test_input_that_changes_while_encoded_is_named_and_nothing_written(tiny_bert, tmp_path, monkeypatch, suffix):
    """Rows the reader no longer finds were zeros in the .npy (silently wrong vectors) or a StopIteration."""
    import twinbert.encode_file as encode_file

    (tmp_path / "texts.txt").write_text("the cat sat\ni love paris\n", encoding="utf-8")
    monkeypatch.setattr(encode_file, "count_texts", lambda path, column: 3)  # counted before a line went away
    encoder = twinbert.load(str(tiny_bert), device="cpu", backend="torch")
    with pytest.raises(InputError, match=r"texts.txt: changed while it was encoded \(3 texts .* 2 read"):
        encode_file.encode_file(encoder, tmp_path / "texts.txt", tmp_path / f"out{suffix}", show_progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["texts.txt"]


def test_a_param_given_twice_is_refused_not_the_last_one_taken(tmp_path, capsys):
    from twinbert.cli.main import main

    np.save(tmp_path / "v.npy", _vectors(50))
    code = main(["index", "build", str(tmp_path / "ix"), "--embeddings", str(tmp_path / "v.npy"), "--model", "m",
                 "--backend", "ivf", "--param", "nlist=2", "--param", "nlist=4"])
    err = capsys.readouterr().err
    assert code == 2 and "--param nlist given twice (nlist=2 and nlist=4); give it once" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "ix").exists()
