"""The persistent Index: build, add, search, save/load round trips, refusals, ANN recall and files.
Its folder format (corruption, crash-safe saves) is tested in tests/formats/test_index_folder.py."""
from __future__ import annotations

import json

import numpy as np
import pytest

from twinbert.errors import InputError, MissingExtraError
from twinbert.formats.index_folder import ANN_FILE, ITEMS_FILE, META_FILE, VECTORS_FILE
from twinbert.search import Index, semantic_search

VOCAB = ["cat", "dog", "car", "tree"]


class FakeEncoder:
    """Bag-of-words over a tiny vocabulary: enough to check the plumbing without a model."""

    def __init__(self, name="fake-bow", dimension=4):
        self.name, self.dimension, self.calls = name, dimension, 0

    def settings(self):
        return {"model": self.name, "pooling": "bow", "normalize": False, "max_seq_length": 8}

    def encode(self, texts):
        self.calls += 1
        out = np.full((len(texts), self.dimension), 0.01, np.float32)
        for row, text in enumerate(texts):
            for col, word in enumerate(VOCAB[:self.dimension]):
                out[row, col] += text.split().count(word)
        return out


TEXTS = ["cat cat", "dog", "a car", "the tree", "cat and dog", "car car tree"]


def random_vectors(n=60, dim=8, seed=0):
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


# ------------------------------------------------------------------ build and search

def test_build_from_embeddings_matches_semantic_search():
    vectors = random_vectors()
    ids = [f"doc-{i}" for i in range(len(vectors))]
    index = Index.build(embeddings=vectors, ids=ids)
    queries = random_vectors(5, seed=1)
    hits = index.search(queries, k=4)
    want = semantic_search(queries, vectors, top_k=4)
    assert [[h["id"] for h in row] for row in hits] == [[ids[i] for i, _ in row] for row in want]
    np.testing.assert_allclose([h["score"] for h in hits[0]], [s for _, s in want[0]], atol=1e-5)
    assert [h["rank"] for h in hits[0]] == [1, 2, 3, 4]
    assert hits[0][0]["text"] is None
    assert len(index) == 60 and index.dimension == 8 and index.model_name is None


@pytest.mark.parametrize("metric", ["dot", "euclidean", "manhattan"])
def test_flat_metrics(metric):
    vectors = random_vectors()
    index = Index.build(embeddings=vectors, metric=metric)
    (hits,) = index.search(vectors[3], k=3)
    (want,) = semantic_search(vectors[3], vectors, top_k=3, metric=metric)
    assert [h["id"] for h in hits] == [i for i, _ in want]
    np.testing.assert_allclose([h["score"] for h in hits], [s for _, s in want], atol=1e-5)


def test_build_from_texts_and_search_by_text():
    encoder = FakeEncoder()
    index = Index.build(texts=TEXTS, encoder=encoder)
    hits = index.search(["dog dog", "tree"], k=2)  # the build encoder is remembered
    assert hits[0][0] == {"id": 1, "text": "dog", "score": pytest.approx(1.0, abs=1e-3), "rank": 1}
    assert hits[1][0]["text"] == "the tree"
    assert index.search("a cat", k=1)[0][0]["text"] == "cat cat"  # one string = one query
    assert index.model == {"name": "fake-bow", "settings": encoder.settings()}


def test_build_from_npy_file_with_texts(tmp_path):
    vectors = FakeEncoder().encode(TEXTS)
    np.save(tmp_path / "emb.npy", vectors)
    index = Index.build(texts=TEXTS, embeddings=tmp_path / "emb.npy", ids=list("abcdef"),
                        model_name="fake-bow")
    assert index.search(vectors[2:3], k=1)[0][0] == {"id": "c", "text": "a car",
                                                      "score": pytest.approx(1.0), "rank": 1}
    with pytest.raises(InputError, match="missing.npy"):
        Index.build(embeddings=tmp_path / "missing.npy")


def test_build_errors():
    with pytest.raises(InputError, match="encoder"):
        Index.build(texts=TEXTS)
    with pytest.raises(InputError, match="duplicate id 'x'"):
        Index.build(embeddings=random_vectors(3), ids=["x", "y", "x"])
    with pytest.raises(InputError, match="3 ids for 2 rows"):
        Index.build(embeddings=random_vectors(2), ids=[1, 2, 3])
    with pytest.raises(InputError, match="2 texts but 3 embeddings"):
        Index.build(texts=["a", "b"], embeddings=random_vectors(3))
    with pytest.raises(InputError, match="backend"):
        Index.build(embeddings=random_vectors(3), backend="annoy")
    with pytest.raises(InputError, match="metric"):
        Index.build(embeddings=random_vectors(3), metric="hamming")
    with pytest.raises(InputError, match="no rows"):
        Index.build(embeddings=np.zeros((0, 4), np.float32))
    with pytest.raises(InputError, match="nprobes"):
        Index.build(embeddings=random_vectors(3), backend="ivf", nprobes=3)
    with pytest.raises(InputError, match="takes none"):
        Index.build(embeddings=random_vectors(3), M=8)
    with pytest.raises(InputError, match="k must be a positive integer"):
        Index.build(embeddings=random_vectors(3)).search(random_vectors(1), k=0)


def test_add_continues_ids_and_rejects_duplicates():
    encoder = FakeEncoder()
    index = Index.build(texts=TEXTS[:3], encoder=encoder)
    assert index.add(texts=TEXTS[3:]) == [3, 4, 5]
    assert len(index) == 6 and index.search("tree car car", k=1)[0][0]["text"] == "car car tree"
    assert index.add(embeddings=encoder.encode(["dog"]), ids=["extra"]) == ["extra"]
    with pytest.raises(InputError, match="duplicate id 'extra'"):
        index.add(texts=["cat"], ids=["extra"])
    with pytest.raises(InputError, match="duplicate id 2"):
        index.add(texts=["cat"], ids=[2])
    with pytest.raises(InputError, match="dimension 3 but the index has dimension 4"):
        index.add(embeddings=np.ones((1, 3), np.float32))
    assert len(index) == 7  # failed adds change nothing


# ------------------------------------------------------------------ model identity

def test_refuses_other_model_unless_forced():
    index = Index.build(texts=TEXTS, encoder=FakeEncoder("model-a"))
    other = FakeEncoder("model-b")
    with pytest.raises(InputError, match="'model-a'.*'model-b'.*force=True"):
        index.search(["cat"], encoder=other)
    assert index.search(["cat"], encoder=other, force=True)[0][0]["text"] == "cat cat"
    with pytest.raises(InputError, match="model-a"):
        index.add(texts=["dog"], encoder=other)
    index.add(texts=["dog"], encoder=other, force=True)
    # a path to the same model is the same model
    index.search(["cat"], encoder=FakeEncoder("/models/model-a/"))


def test_refuses_other_dimension_even_forced():
    index = Index.build(texts=TEXTS, encoder=FakeEncoder("model-a"))
    small = FakeEncoder("model-a", dimension=3)
    for force in (False, True):
        with pytest.raises(InputError, match="dimension 3.*dimension 4"):
            index.search(["cat"], encoder=small, force=force)
    with pytest.raises(InputError, match="dimension 5.*dimension 4"):
        index.search(np.ones((2, 5), np.float32))


def test_text_queries_need_an_encoder_after_load(tmp_path):
    Index.build(texts=TEXTS, encoder=FakeEncoder()).save(tmp_path / "ix")
    loaded = Index.load(tmp_path / "ix")
    with pytest.raises(InputError, match=r"encoder=twinbert.load\('fake-bow'\)"):
        loaded.search(["cat"])
    assert loaded.search(["cat"], encoder=FakeEncoder())[0][0]["text"] == "cat cat"


# ------------------------------------------------------------------ save / load

def test_round_trip(tmp_path):
    encoder = FakeEncoder()
    index = Index.build(texts=TEXTS, encoder=encoder, ids=[f"t{i}" for i in range(6)])
    path = index.save(tmp_path / "sub" / "ix")
    assert sorted(p.name for p in path.iterdir()) == [ITEMS_FILE, META_FILE, VECTORS_FILE]
    meta = json.loads((path / META_FILE).read_text())
    assert meta["model"]["name"] == "fake-bow" and meta["model"]["settings"]["pooling"] == "bow"
    assert (meta["dimension"], meta["metric"], meta["backend"], meta["count"]) == (4, "cosine", "flat", 6)
    assert meta["format_version"] == 1
    loaded = Index.load(path)
    queries = encoder.encode(["cat dog", "car"])
    assert loaded.search(queries, k=3) == index.search(queries, k=3)
    assert loaded.ids == index.ids and loaded.texts == index.texts
    # add to the loaded index, save over the old folder, load again
    loaded.add(texts=["tree tree"], encoder=encoder)
    loaded.save(path)
    again = Index.load(path)
    assert len(again) == 7 and again.ids[-1] == 6 and again.texts[-1] == "tree tree"
    assert not [p for p in tmp_path.joinpath("sub").iterdir() if p.name != "ix"]  # no leftovers


def rewrite_json(path, **changes):
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


# ------------------------------------------------------------------ approximate backends

def clustered(n, dim=32, clusters=100, seed=0, noise=1.0):
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(1234).standard_normal((clusters, dim))
    return (centers[rng.integers(0, clusters, n)] + noise * rng.standard_normal((n, dim))).astype(np.float32)


@pytest.fixture(scope="module")
def ann_data():
    pytest.importorskip("faiss")
    corpus, queries = clustered(20_000), clustered(200, seed=1)
    exact = Index.build(embeddings=corpus).search(queries, k=10)
    return corpus, queries, exact


def recall(approx, exact):
    return np.mean([len({h["id"] for h in a} & {h["id"] for h in e}) / len(e)
                    for a, e in zip(approx, exact)])


@pytest.mark.parametrize("backend, params", [("hnsw", dict(M=16, ef_construction=32)), ("ivf", {})])
def test_approximate_recall_at_10(ann_data, backend, params):
    corpus, queries, exact = ann_data
    index = Index.build(embeddings=corpus, backend=backend, **params)
    hits = index.search(queries, k=10)
    assert recall(hits, exact) >= 0.95
    # the scores are real cosine similarities, as in the exact search
    for got, want in zip(hits[:5], exact[:5]):
        common = {h["id"]: h["score"] for h in want}
        for h in got:
            if h["id"] in common:
                assert h["score"] == pytest.approx(common[h["id"]], abs=1e-5)


@pytest.mark.parametrize("backend", ["hnsw", "ivf"])
@pytest.mark.parametrize("metric", ["cosine", "euclidean", "manhattan", "dot"])
def test_approximate_round_trip_and_add(tmp_path, backend, metric):
    pytest.importorskip("faiss")
    vectors = clustered(500, dim=16)
    index = Index.build(embeddings=vectors[:400], backend=backend, metric=metric, M=8, ef_construction=32) \
        if backend == "hnsw" else Index.build(embeddings=vectors[:400], backend=backend, metric=metric)
    index.add(embeddings=vectors[400:])
    exact = Index.build(embeddings=vectors, metric=metric).search(vectors[:20], k=5)
    hits = index.search(vectors[:20], k=5)
    assert recall(hits, exact) >= 0.9
    np.testing.assert_allclose([h["score"] for h in hits[0]], [h["score"] for h in exact[0]], atol=1e-4)
    path = index.save(tmp_path / "ann")
    assert (path / ANN_FILE).is_file()
    loaded = Index.load(path)
    assert loaded.backend == backend and len(loaded) == 500
    assert loaded.search(vectors[:20], k=5) == hits
    loaded.add(embeddings=vectors[:1], ids=["again"])
    assert loaded.search(vectors[:1], k=2)[0][1]["id"] in (0, "again")


def test_set_search_params(tmp_path):
    pytest.importorskip("faiss")
    vectors = clustered(400, dim=8)
    index = Index.build(embeddings=vectors, backend="ivf", nlist=10, nprobe=1)
    index.set_search_params(nprobe=50)  # clamped to nlist
    assert index.backend_params["nprobe"] == 10
    exact = Index.build(embeddings=vectors).search(vectors[:10], k=5)
    assert recall(index.search(vectors[:10], k=5), exact) == 1.0  # every cell visited
    assert Index.load(index.save(tmp_path / "ix")).backend_params["nprobe"] == 10
    with pytest.raises(InputError, match="ef_search cannot be set for backend='ivf'"):
        index.set_search_params(ef_search=10)
    with pytest.raises(InputError, match="nprobe"):
        index.set_search_params(nprobe=0)
    with pytest.raises(InputError, match="accepted: nothing"):
        Index.build(embeddings=vectors).set_search_params(nprobe=3)


def test_approximate_corrupt_ann_file(tmp_path):
    pytest.importorskip("faiss")
    path = Index.build(embeddings=clustered(300, dim=8), backend="ivf").save(tmp_path / "ix")
    rewrite_json(path / META_FILE, backend="hnsw")
    with pytest.raises(InputError, match=ANN_FILE.replace(".", r"\.")):
        Index.load(path)
    (path / ANN_FILE).write_bytes(b"nope")
    with pytest.raises(InputError, match=ANN_FILE.replace(".", r"\.")):
        Index.load(path)
    (path / ANN_FILE).unlink()
    with pytest.raises(InputError, match=ANN_FILE.replace(".", r"\.")):
        Index.load(path)


def test_missing_faiss_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_faiss(name, *args, **kwargs):
        if name == "faiss":
            raise ImportError("No module named 'faiss'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_faiss)
    with pytest.raises(MissingExtraError, match=r"pip install 'twinbert\[faiss\]'") as missing:
        Index.build(embeddings=random_vectors(3), backend="hnsw")
    assert missing.value.extra == "faiss"
    Index.build(embeddings=random_vectors(3))  # flat needs no faiss



def test_reads_and_extends_a_bare_hnsw_graph(tmp_path):
    """Indexes saved before the IndexIDMap wrapper hold a bare IndexHNSWFlat (labels = insertion order)."""
    faiss = pytest.importorskip("faiss")
    vectors = clustered(600, dim=16)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    path = Index.build(embeddings=vectors[:500], backend="hnsw", ef_search=64).save(tmp_path / "ix")
    bare = faiss.IndexHNSWFlat(16, 32, faiss.METRIC_INNER_PRODUCT)
    bare.add(np.ascontiguousarray(unit[:500]))
    faiss.write_index(bare, str(path / ANN_FILE))
    meta = json.loads((path / "meta.json").read_text())
    del meta["checksums"]  # such indexes were saved before meta.json recorded each file's sha256 too
    (path / "meta.json").write_text(json.dumps(meta))
    index = Index.load(path)
    assert not index._ann.any_order
    exact = Index.build(embeddings=vectors).search(vectors[500:520], k=5)
    index.add(embeddings=vectors[500:])
    assert recall(index.search(vectors[500:520], k=5), exact) >= 0.95
    report = index.tune(0.9)
    assert report["queries_from"] == "stored rows" and report["reached"]
