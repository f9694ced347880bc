"""Index.tune: the search knob of an approximate index chosen for a recall target, checked against
recall measured independently (the index's own search vs the exact flat search)."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from twinbert.errors import InputError
from twinbert.search import Index, tuning

pytest.importorskip("faiss")


def clustered(n, dim=64, clusters=50, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(1234).standard_normal((clusters, dim))
    return (centers[rng.integers(0, clusters, n)] + rng.standard_normal((n, dim))).astype(np.float32)


def recall(index, queries, k=10):
    """recall@k of the index's search against the exact search over the same vectors."""
    exact = Index.build(embeddings=index.vectors, metric=index.metric).search(queries, k=k)
    got = index.search(queries, k=k)
    return float(np.mean([len({h["id"] for h in a} & {h["id"] for h in e}) / len(e)
                          for a, e in zip(got, exact)]))


@pytest.fixture(scope="module")
def corpus():
    return clustered(6000)


@pytest.fixture(scope="module")
def queries():
    return clustered(300, seed=7)


def weak_graph(corpus, **kwargs):
    """A deliberately sparse HNSW graph, so that the default ef_search misses neighbours."""
    return Index.build(embeddings=corpus, backend="hnsw", M=6, ef_construction=12, **kwargs)


def test_fixed_default_misses_and_build_tunes_to_the_target(corpus, queries):
    fixed = weak_graph(corpus, recall_target=None, ef_search=16)
    assert fixed.tuning is None
    low = recall(fixed, queries)
    assert low < 0.9  # the case tuning is for

    index = weak_graph(corpus)  # recall_target defaults to 0.95
    report = index.tuning
    assert report["knob"] == "ef_search" and report["target"] == 0.95 and report["k"] == 10
    # held-out rows stand in for the queries: aim at half the misses the target allows
    assert report["queries_from"] == "held-out rows" and report["aim"] == 0.975
    assert report["reached"] and report["recall"] >= report["recall_low"] >= 0.975
    assert index.backend_params["ef_search"] == report["value"]
    # the smallest value tried that reaches the aim: every smaller trial missed it
    assert all(low < 0.975 for v, _, low in report["trials"] if v < report["value"])
    assert any(v < report["value"] for v, _, _ in report["trials"])
    # new queries from the same distribution reach the target too
    assert recall(index, queries) >= 0.95


def test_tune_on_given_queries_reports_the_recall_they_get(corpus, queries):
    index = weak_graph(corpus, recall_target=None)
    report = index.tune(0.96, k=5, queries=queries)
    assert report["queries_from"] == "given queries" and report["queries"] == len(queries)
    assert report["aim"] == 0.96  # real queries: the target itself
    assert report["recall"] == pytest.approx(recall(index, queries, k=5), abs=1e-3)
    assert report["recall_low"] >= 0.96


def test_explicit_knob_is_kept(corpus):
    index = weak_graph(corpus, ef_search=20)
    assert index.tuning is None and index.backend_params["ef_search"] == 20


def test_ivf_nprobe(corpus, queries):
    index = Index.build(embeddings=corpus, backend="ivf", nlist=64, recall_target=1.0)
    assert index.tuning["knob"] == "nprobe" and index.tuning["recall"] == 1.0
    assert 1 <= index.backend_params["nprobe"] <= 64
    loose = Index.build(embeddings=corpus, backend="ivf", nlist=64, recall_target=0.8)
    assert loose.backend_params["nprobe"] <= index.backend_params["nprobe"]
    assert recall(loose, queries) >= 0.75


def test_tuning_saved_cleared_and_renewed(tmp_path, corpus):
    index = Index.build(embeddings=corpus[:5000], backend="ivf", nlist=32, metric="euclidean")
    saved = Index.load(index.save(tmp_path / "ix"))
    assert saved.tuning == index.tuning and saved.backend_params == index.backend_params

    saved.add(embeddings=corpus[5000:5100])  # +2 %: no new tuning
    assert saved.tuning["count"] == 5000
    saved.add(embeddings=corpus[5100:])  # +20 % in all: tuned again for the same target
    assert saved.tuning["count"] == 6000 and saved.tuning["target"] == 0.95

    saved.set_search_params(nprobe=3)  # a hand-set knob replaces the tuned one
    assert saved.tuning is None
    assert Index.load(saved.save(tmp_path / "ix")).tuning is None


def test_out_of_reach_keeps_the_most_exhaustive_setting(corpus, monkeypatch, caplog):
    index = weak_graph(corpus, recall_target=None)
    monkeypatch.setattr(tuning, "ladder", lambda *args: [8, 12])
    with caplog.at_level(logging.WARNING):
        report = index.tune(1.0)
    assert not report["reached"] and report["value"] == 12 and index.backend_params["ef_search"] == 12
    assert "out of reach" in caplog.text


def test_bad_requests(corpus):
    with pytest.raises(InputError, match="exact"):
        Index.build(embeddings=corpus[:50]).tune()
    for bad in (0, 1.5, "high", True):
        with pytest.raises(InputError, match="recall target"):
            Index.build(embeddings=corpus[:500], backend="ivf", recall_target=bad)
    index = Index.build(embeddings=corpus[:500], backend="ivf", nlist=8)
    with pytest.raises(InputError, match="queries have dimension 5 but the index"):
        index.tune(queries=np.zeros((3, 5), np.float32))
    with pytest.raises(InputError, match="k"):
        index.tune(k=0)


@pytest.mark.parametrize("backend, params", [("hnsw", {}), ("ivf", {}), ("ivfpq", {"nbits": 2, "m": 4}),
                                             ("int8", {}), ("binary", {})])
@pytest.mark.parametrize("rows", [1, 8])
def test_an_index_of_at_most_k_rows_is_searched_exhaustively_not_tuned(backend, params, rows, caplog):
    """One row queried by itself has no other neighbour: the tuning measured recall 0.000 and warned that the
    target was out of reach. At most k rows: the most exhaustive setting, exact, and the report says why."""
    if backend == "ivfpq" and rows == 1:
        params = {**params, "nbits": 1}  # PQ cannot learn 2 codes from 1 row: refused, saying so
        with pytest.raises(InputError, match="training rows"):
            Index.build(embeddings=clustered(rows, dim=16), backend=backend, **params)
        return
    with caplog.at_level(logging.WARNING):
        index = Index.build(embeddings=clustered(rows, dim=16), backend=backend, **params)
    report = index.tuning
    assert report["reached"] and report["recall"] == 1.0 and report["trials"] == []
    assert f"{rows} row" in report["skipped"] and "at most k=10" in report["skipped"]
    assert index.backend_params[report["knob"]] == report["value"]
    assert "out of reach" not in caplog.text
    queries = clustered(20, dim=16, seed=3)
    assert recall(index, queries, k=10) == 1.0  # exact, as the report says
    assert index.tune(k=rows + 5)["skipped"]  # asked by hand: the same rule
    more = index.tune(k=1) if rows > 1 else None  # more rows than k: measured as before
    assert more is None or ("skipped" not in more and more["trials"])
