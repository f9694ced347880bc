"""Search, indexes and mining on bad input (library level; the CLI cases are in cases_search.py):
the model behind an index, NaN / inf vectors, empty texts in mining, counts, saving over things."""
from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import build_tiny_bert

import twinbert
from twinbert.cli.main import build_parser, main
from twinbert.errors import InputError, OutputError
from twinbert.formats import hashing
from twinbert.search import Index, paraphrase_mining, semantic_search

TEXTS = ["the cat sat on the mat", "a dog is happy", "i love paris", "the man ran in the park"]


def vectors(n=30, dim=8, seed=0):
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A model, the same model in another folder under another name, and another model that has
    the first one's folder name (what a retrained copy looks like)."""
    root = tmp_path_factory.mktemp("models")
    first = build_tiny_bert(root / "v1" / "model")
    shutil.copytree(first, root / "elsewhere" / "renamed")
    build_tiny_bert(root / "v2" / "model", seed=1)
    return {"first": first, "moved": root / "elsewhere" / "renamed", "retrained": root / "v2" / "model"}


# ------------------------------------------------------------------ 7. the model behind an index

def test_another_model_with_the_same_name_is_refused_unless_forced(models, tmp_path):
    index = Index.build(texts=TEXTS, encoder=twinbert.load(str(models["first"])))
    Index.build(texts=TEXTS, encoder=twinbert.load(str(models["first"]))).save(tmp_path / "ix")
    other = twinbert.load(str(models["retrained"]))
    for ix in (index, Index.load(tmp_path / "ix")):
        with pytest.raises(InputError, match="other weights.*force=True") as refused:
            ix.search(["a cat"], encoder=other)
        assert refused.value.argument == "force"
        with pytest.raises(InputError, match="other weights"):
            ix.add(texts=["a dog"], encoder=other)
        assert ix.search(["a cat"], encoder=other, force=True)[0]
    assert json.loads((tmp_path / "ix" / "meta.json").read_text())["model"]["fingerprint"].startswith("blake2b:")


def test_the_same_model_moved_and_renamed_is_accepted(models):
    index = Index.build(texts=TEXTS, encoder=twinbert.load(str(models["first"])))
    hits = index.search(["a dog is happy"], encoder=twinbert.load(str(models["moved"])), k=1)
    assert hits[0][0]["text"] == "a dog is happy"
    index.add(texts=["i love paris too"], encoder=twinbert.load(str(models["moved"])))


def test_a_model_retrained_in_place_is_refused(models, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(models["first"], folder)
    encoder = twinbert.load(str(folder))
    index = Index.build(texts=TEXTS, encoder=encoder)
    index.save(tmp_path / "ix")
    with torch.no_grad():  # a training step changes the weights of the encoder the index remembers
        next(encoder.parameters())[0, 0] += 0.5
    with pytest.raises(InputError, match="other weights"):
        index.search(["a cat"])
    # retrained and saved over its folder: same path, same name, other weights
    build_tiny_bert(folder, seed=2)
    with pytest.raises(InputError, match="other weights"):
        Index.load(tmp_path / "ix").search(["a cat"], encoder=twinbert.load(str(folder)))


def test_the_same_model_in_bfloat16_is_the_same_model(models):
    """Precision is how the model runs, not which model it is: a bfloat16 load searches a float32 index."""
    index = Index.build(texts=TEXTS, encoder=twinbert.load(str(models["first"])))
    half = twinbert.load(str(models["first"]), precision="bfloat16")
    assert index.search(["a dog is happy"], encoder=half, k=1)[0][0]["text"] == "a dog is happy"
    with pytest.raises(InputError, match="other weights"):
        index.search(["a cat"], encoder=twinbert.load(str(models["retrained"]), precision="bfloat16"))


def test_other_vector_settings_are_refused_and_named(models):
    index = Index.build(texts=TEXTS, encoder=twinbert.load(str(models["first"])))
    shorter = twinbert.load(str(models["first"]))
    shorter.max_seq_length = 8
    with pytest.raises(InputError, match="max_seq_length 8 but the index was built with max_seq_length 64"):
        index.search(["a cat"], encoder=shorter)


def test_an_index_without_fingerprint_still_loads_and_checks_the_name(models, tmp_path):
    Index.build(texts=TEXTS, encoder=twinbert.load(str(models["first"]))).save(tmp_path / "ix")
    meta_path = tmp_path / "ix" / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["model"]["fingerprint"]  # as written before fingerprints
    meta_path.write_text(json.dumps(meta))
    old = Index.load(tmp_path / "ix")
    assert old.search(["a cat"], encoder=twinbert.load(str(models["retrained"])))  # same name: as before
    with pytest.raises(InputError, match="renamed'; their vectors are not comparable.*force=True"):
        old.search(["a cat"], encoder=twinbert.load(str(models["moved"])))


def test_the_weights_are_hashed_once_until_they_change(models, monkeypatch):
    encoder = twinbert.load(str(models["first"]))
    calls = []
    real = hashing.hashlib.blake2b
    monkeypatch.setattr(hashing.hashlib, "blake2b", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = hashing.model_fingerprint(encoder)
    assert hashing.model_fingerprint(encoder) == first and len(calls) == 1
    with torch.no_grad():
        next(encoder.parameters()).mul_(1)  # changed in place (same values): hashed again
    assert hashing.model_fingerprint(encoder) == first and len(calls) == 2


# ------------------------------------------------------------------ 8. NaN and infinite vectors

def with_bad(value, row=17, n=30):
    bad = vectors(n)
    bad[row, 3] = value
    return bad


def test_nan_and_inf_embeddings_are_refused_by_row():
    with pytest.raises(InputError, match="embeddings row 17 has NaN"):
        Index.build(embeddings=with_bad(np.nan))
    with pytest.raises(InputError, match="embeddings row 17 has an infinite value"):
        Index.build(embeddings=with_bad(-np.inf))
    beyond = vectors().astype(np.float64)
    beyond[2, 0] = 1e300  # a float64 beyond float32's range: inf once stored
    with pytest.raises(InputError, match="embeddings row 2 has an infinite value"):
        Index.build(embeddings=beyond)
    index = Index.build(embeddings=vectors())
    with pytest.raises(InputError, match="embeddings row 4 has NaN"):
        index.add(embeddings=with_bad(np.nan, row=4, n=5))
    assert len(index) == 30
    with pytest.raises(InputError, match="queries row 0 has NaN"):
        index.search(with_bad(np.nan, row=0, n=1))


def test_nan_never_ranks_first_in_semantic_search_and_mining():
    with pytest.raises(InputError, match="corpus_embeddings row 17 has NaN"):
        semantic_search(vectors(2), with_bad(np.nan))
    with pytest.raises(InputError, match="query_embeddings row 1 has an infinite value"):
        semantic_search(with_bad(np.inf, row=1, n=3), vectors())
    with pytest.raises(InputError, match="row 17 has NaN"):
        paraphrase_mining(with_bad(np.nan))
    # huge but finite rows (their sum overflows) are numbers, not refused
    huge = np.full((3, 4), 3e38, np.float32)
    assert semantic_search(huge[:1], huge, top_k=1, metric="cosine")[0][0][0] == 0


def test_an_encoder_giving_nan_is_refused():
    class NanEncoder:
        name, dimension = "nan-model", 4

        def encode(self, texts):
            out = np.ones((len(texts), 4), np.float32)
            out[-1] = np.nan
            return out

    with pytest.raises(InputError, match="encoder's output row 3 has NaN"):
        Index.build(texts=TEXTS, encoder=NanEncoder())



def _without_checksums(path):
    """meta.json as indexes were saved before it recorded each file's sha256 (or as another writer makes it):
    the check of the contents themselves must still refuse them."""
    meta = json.loads((path / "meta.json").read_text())
    del meta["checksums"]
    (path / "meta.json").write_text(json.dumps(meta))


def test_an_index_holding_nan_is_refused_at_load(tmp_path):
    path = Index.build(embeddings=vectors()).save(tmp_path / "ix")
    stored = np.load(path / "vectors.npy")
    stored[9, 0] = np.nan
    np.save(path / "vectors.npy", stored)
    _without_checksums(path)
    with pytest.raises(InputError, match=r"vectors\.npy row 9 has NaN"):
        Index.load(path)


def test_a_memory_mapped_index_holding_nan_names_the_row_past_the_first_block(tmp_path, monkeypatch):
    """Approximate backends keep vectors.npy memory-mapped and check it block by block: the row named is
    the row of the file, not of its block."""
    pytest.importorskip("faiss")
    monkeypatch.setattr("twinbert.formats.mapped.MAPPED_BLOCK_ROWS", 4)
    path = Index.build(embeddings=vectors(), backend="int8", rerank=5).save(tmp_path / "ix")
    stored = np.load(path / "vectors.npy")
    stored[9, 0] = np.inf
    np.save(path / "vectors.npy", stored)
    _without_checksums(path)
    with pytest.raises(InputError, match=r"vectors\.npy row 9 has an infinite value"):
        Index.load(path)


# ------------------------------------------------------------------ 9. empty texts in mining

class SameForEmpty:
    """Identical vectors for every empty or blank text (as a real model gives); words otherwise."""
    name = "bow"

    def __init__(self):
        self.seen = []

    def encode(self, texts, **kwargs):
        self.seen.append(list(texts))
        words = ["cat", "dog", "paris"]
        return np.array([[t.split().count(w) + 0.1 * k for k, w in enumerate(words)] if t.strip()
                         else [1.0, 1.0, 1.0] for t in texts], np.float32)


def test_mining_skips_empty_texts_and_counts_them():
    texts = ["a cat", "", "  ", "the cat", "\t", "a dog", ""]
    encoder = SameForEmpty()
    pairs = paraphrase_mining(texts, encoder=encoder)
    assert pairs.skipped_empty == 4
    assert encoder.seen == [["a cat", "the cat", "a dog"]]  # empties are not even encoded
    positions = {i for _, i, j in pairs} | {j for _, i, j in pairs}
    assert positions <= {0, 3, 5}  # input positions; no pair of empties at 1.0
    assert pairs[0][1:] == (0, 3) and pairs[0][0] == pytest.approx(1.0)
    only_empty = paraphrase_mining(["", " "], encoder=encoder)
    assert only_empty == [] and only_empty.skipped_empty == 2
    assert paraphrase_mining([]) == [] and paraphrase_mining(vectors(3)).skipped_empty == 0


def run_cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def test_mine_cli_reports_skipped_empty_texts(tiny_bert, tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("the cat sat\n\n   \nthe cat sat\na dog\n", encoding="utf-8")
    code, out, err = run_cli("mine", path, "--model", tiny_bert, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["skipped_empty"] == 2
    assert result["pairs"][0][1:] == [0, 3] and result["pairs"][0][0] == pytest.approx(1.0, abs=1e-5)
    assert all({i, j}.isdisjoint({1, 2}) for _, i, j in result["pairs"])
    code, out, err = run_cli("mine", path, "--model", tiny_bert)
    assert code == 0 and "skipped 2 empty text(s)" in out


# ------------------------------------------------------------------ counts, logs, help

def test_counts_of_zero_or_less_name_the_argument():
    index = Index.build(embeddings=vectors())
    for call, name in [(lambda: index.search(vectors(1), k=0), "k"),
                       (lambda: semantic_search(vectors(1), vectors(), top_k=-1), "top_k"),
                       (lambda: semantic_search(vectors(1), vectors(), corpus_chunk_size=0), "corpus_chunk_size"),
                       (lambda: paraphrase_mining(vectors(), max_pairs=0), "max_pairs"),
                       (lambda: paraphrase_mining(vectors(), top_k=True), "top_k")]:
        with pytest.raises(InputError, match=f"{name} must be a positive integer") as refused:
            call()
        assert refused.value.argument == name
    assert len(index.search(vectors(1), k=np.int64(3))[0]) == 3


def test_faiss_loader_info_lines_do_not_reach_the_user():
    pytest.importorskip("faiss")
    code = ("import logging; logging.basicConfig(level=logging.INFO); "
            "from twinbert.search import _faiss; _faiss.require_faiss()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "faiss.loader" not in done.stderr and "Loading faiss" not in done.stderr
    assert logging.getLogger("faiss.loader").getEffectiveLevel() >= logging.WARNING


def test_every_index_command_says_what_it_does(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["index", "add", "--help"])
    assert stopped.value.code == 0 and "to an existing index" in capsys.readouterr().out
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    verbs = next(a for a in commands["index"]._actions if a.dest == "verb").choices
    for name, sub in [*verbs.items(), ("search", commands["search"]), ("mine", commands["mine"])]:
        assert sub.description, name
        undocumented = [a.dest for a in sub._actions if not a.help]
        assert not undocumented, (name, undocumented)


# ------------------------------------------------------------------ saving over things

def test_save_over_another_index_needs_overwrite(tmp_path):
    Index.build(embeddings=vectors(5)).save(tmp_path / "ix")
    other = Index.build(embeddings=vectors(7))
    with pytest.raises(OutputError, match="an index already exists here; pass overwrite=True") as refused:
        other.save(tmp_path / "ix")
    assert refused.value.argument == "overwrite" and len(Index.load(tmp_path / "ix")) == 5
    other.save(tmp_path / "ix", overwrite=True)
    assert len(Index.load(tmp_path / "ix")) == 7
    loaded = Index.load(tmp_path / "ix")  # its own folder: an update, no overwrite needed
    loaded.add(embeddings=vectors(1, seed=3))
    loaded.save(tmp_path / "ix")
    assert len(Index.load(tmp_path / "ix")) == 8


def test_overwrite_into_a_folder_of_other_files_keeps_them(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    index = Index.build(embeddings=vectors(5))
    with pytest.raises(OutputError, match="not an index"):
        index.save(folder)
    index.save(folder, overwrite=True)
    assert (folder / "notes.txt").read_text() == "mine" and len(Index.load(folder)) == 5
    Index.build(embeddings=vectors(6)).save(folder, overwrite=True)  # an index with other files in it
    assert (folder / "notes.txt").read_text() == "mine" and len(Index.load(folder)) == 6
    assert sorted(p.name for p in folder.iterdir()) == ["items.jsonl", "meta.json", "notes.txt", "vectors.npy"]


def test_files_of_another_program_are_never_replaced(tmp_path):
    folder = tmp_path / "theirs"
    folder.mkdir()
    (folder / "vectors.npy").write_bytes(b"not ours")
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="holds vectors.npy but no twinbert index"):
            Index.build(embeddings=vectors(5)).save(folder, overwrite=overwrite)
    assert (folder / "vectors.npy").read_bytes() == b"not ours"


def test_replacing_an_approximate_index_leaves_no_stale_ann_file(tmp_path):
    pytest.importorskip("faiss")
    folder = tmp_path / "ix"
    Index.build(embeddings=vectors(60), backend="hnsw", recall_target=None).save(folder)
    (folder / "README.txt").write_text("about this index")
    Index.build(embeddings=vectors(4)).save(folder, overwrite=True)
    assert sorted(p.name for p in folder.iterdir()) == ["README.txt", "items.jsonl", "meta.json", "vectors.npy"]
    assert Index.load(folder).backend == "flat"


def test_empty_input_follows_the_one_rule(tmp_path):
    index = Index.build(embeddings=vectors())
    assert index.search([]) == [] and index.add(embeddings=np.zeros((0, 8), np.float32)) == []
    assert semantic_search(np.zeros((0, 8), np.float32), vectors()) == []
    with pytest.raises(InputError, match="empty.npy: no rows to index"):
        np.save(tmp_path / "empty.npy", np.zeros((0, 8), np.float32))
        Index.build(embeddings=tmp_path / "empty.npy")
