"""The int8 and binary backends of the Index: every row's code in memory (FAISS's 8-bit scalar quantizer /
sign bits), the best candidates re-scored exactly from the stored vectors, ``rerank`` tuned for a recall
target; saved, loaded (vectors memory-mapped), grown, and refused where they do not apply."""
from __future__ import annotations

import json

import numpy as np
import pytest

from twinbert.cli.main import main
from twinbert.errors import InputError
from twinbert.search import Index

pytest.importorskip("faiss")

from search_vectors import clustered as _clustered  # noqa: E402
from search_vectors import recall  # noqa: E402


def clustered(n, seed=0):
    return _clustered(n, clusters=40, seed=seed, centers_seed=7, noise=0.6)


@pytest.fixture(scope="module")
def data():
    return clustered(5000), clustered(100, seed=1)


@pytest.mark.parametrize("backend, code_bytes", [("int8", 64), ("binary", 8)])
def test_the_tuned_rerank_reaches_the_target_with_exact_scores(data, tmp_path, backend, code_bytes):
    corpus, queries = data
    index = Index.build(embeddings=corpus, backend=backend, recall_target=0.95)
    flat = Index.build(embeddings=corpus)
    report = index.tuning
    assert report["knob"] == "rerank" and report["reached"] and index.backend_params["rerank"] == report["value"]
    assert recall(index, flat, queries) >= 0.95
    assert index._ann.bytes_per_vector() == code_bytes + 8  # against 256 bytes of float32
    for q, hits in enumerate(index.search(queries[:5], k=5)):  # re-scored: the exact cosine
        for hit in hits:
            assert hit["score"] == pytest.approx(float(corpus[hit["id"]] @ queries[q]), abs=1e-5)
    index.save(tmp_path / "ix")
    loaded = Index.load(tmp_path / "ix")
    assert isinstance(loaded._ann.vectors, np.memmap)
    assert loaded.search(queries[:10], k=10) == index.search(queries[:10], k=10)
    meta = json.loads((tmp_path / "ix" / "meta.json").read_text())
    assert meta["backend"] == backend and meta["backend_params"] == {"rerank": report["value"]}


def test_binary_codes_alone_rank_worse_than_int8_codes(data):
    """What the re-scoring is for: with as many candidates as hits, int8 codes keep most of the exact top
    10, the sign bits far fewer."""
    corpus, queries = data
    flat = Index.build(embeddings=corpus)
    int8 = recall(Index.build(embeddings=corpus, backend="int8", rerank=10), flat, queries)
    binary = recall(Index.build(embeddings=corpus, backend="binary", rerank=10), flat, queries)
    assert int8 >= 0.9 and binary < int8 - 0.1, (int8, binary)


def test_add_set_search_params_and_euclidean(data, tmp_path):
    corpus, queries = data
    index = Index.build(embeddings=corpus[:4000], backend="int8", metric="euclidean", rerank=50)
    index.add(embeddings=corpus[4000:], ids=list(range(4000, 5000)))
    assert len(index) == 5000
    hits = index.search(corpus[4500:4501], k=1)[0]
    assert hits[0]["id"] == 4500 and hits[0]["score"] == pytest.approx(0.0, abs=1e-4)  # -distance
    index.set_search_params(rerank=200)
    assert index.backend_params["rerank"] == 200 and index.tuning is None
    flat = Index.build(embeddings=corpus, metric="euclidean")
    assert recall(index, flat, queries) >= 0.98
    with pytest.raises(InputError, match="cannot be set for backend='int8'; accepted: rerank"):
        index.set_search_params(nprobe=3)


def test_bad_parameters_and_metrics_are_refused(data):
    corpus = data[0][:500]
    with pytest.raises(InputError, match="unknown parameter.*nlist for backend='binary'; accepted: rerank"):
        Index.build(embeddings=corpus, backend="binary", nlist=4)
    with pytest.raises(InputError, match="rerank=0 for backend='int8' must be a positive integer"):
        Index.build(embeddings=corpus, backend="int8", rerank=0)
    with pytest.raises(InputError, match="backend='binary' ranks by cosine, dot or euclidean"):
        Index.build(embeddings=corpus, backend="binary", metric="manhattan")


def test_a_foreign_ann_file_is_refused_naming_it(data, tmp_path):
    corpus = data[0][:500]
    Index.build(embeddings=corpus, backend="int8", rerank=20).save(tmp_path / "a")
    Index.build(embeddings=corpus, backend="ivf", nprobe=2).save(tmp_path / "b")
    (tmp_path / "a" / "ann.faiss").write_bytes((tmp_path / "b" / "ann.faiss").read_bytes())
    with pytest.raises(InputError, match=r"ann\.faiss: damaged or changed since the index was saved"):
        Index.load(tmp_path / "a")  # its sha256 is not the one meta.json recorded
    meta = json.loads((tmp_path / "a" / "meta.json").read_text())
    del meta["checksums"]  # as before checksums: the contents themselves are checked too
    (tmp_path / "a" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match=r"ann\.faiss: holds a .* meta\.json says int8, 500 x 64"):
        Index.load(tmp_path / "a")


def test_cli_builds_and_searches_a_binary_index(data, tmp_path, capsys):
    corpus, queries = data
    np.save(tmp_path / "corpus.npy", corpus)
    np.save(tmp_path / "q.npy", queries[:3])
    code = main(["index", "build", str(tmp_path / "ix"), "--embeddings", str(tmp_path / "corpus.npy"),
                 "--backend", "binary", "--json"])
    assert code == 0
    built = json.loads(capsys.readouterr().out)
    assert built["backend"] == "binary" and built["tuning"]["knob"] == "rerank"
    assert Index.load(tmp_path / "ix").backend == "binary"
