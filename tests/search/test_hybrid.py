"""Hybrid search: fusion on tiny hand-computed cases, the Index's lexical part kept in step (build,
add, save, load, a failed add), search modes, tune_fusion, and the retrieval evaluator's modes."""
from __future__ import annotations

import json

import numpy as np
import pytest

from twinbert.errors import InputError
from twinbert.search import Index
from twinbert.search.fusion import DEFAULT, Fusion, fuse, ndcg

pytest.importorskip("bm25s")

from tests.search.test_index import FakeEncoder  # noqa: E402  (bag of words over cat, dog, car, tree)

TEXTS = ["cat cat", "dog", "a car", "the tree", "cat and dog", "car car tree"]


def test_convex_minmax_fusion_by_hand():
    dense = np.array([[0.9, 0.5, 0.7]])
    lexical = np.array([[0.0, 4.0, 2.0]])
    mask = np.ones((1, 3), bool)
    # min-max: dense -> 1, 0, 0.5; lexical -> 0, 1, 0.5
    np.testing.assert_allclose(fuse(dense, lexical, mask, Fusion("convex", 0.25)), [[0.75, 0.25, 0.5]])
    z = fuse(dense, lexical, mask, Fusion("convex", 0.5, "zscore"))
    np.testing.assert_allclose(z, [[0.0, 0.0, 0.0]], atol=1e-12)  # the two sides disagree exactly


def test_rrf_by_hand_and_padding():
    dense = np.array([[0.9, 0.5, 0.7, 0.0]])
    lexical = np.array([[0.0, 4.0, 2.0, 0.0]])
    mask = np.array([[True, True, True, False]])
    fused = fuse(dense, lexical, mask, Fusion("rrf", 0.5, rrf_k=60))
    want = [0.5 / 63 + 0.5 / 61, 0.5 / 61 + 0.5 / 63, 0.5 / 62 + 0.5 / 62, -np.inf]
    np.testing.assert_allclose(fused, [want])


def test_ndcg_of_one_relevant_row():
    fused = np.array([[0.1, 0.9, 0.5]])
    relevant = np.array([[True, False, False]])
    np.testing.assert_allclose(ndcg(fused, relevant, np.array([1]), 10), [1 / np.log2(4)])
    np.testing.assert_allclose(ndcg(fused, relevant, np.array([2]), 10), [0.5 / (1 + 1 / np.log2(3))])


@pytest.mark.parametrize("bad, match", [({"weight": 1.5}, "fusion weight 1.5"), ({"method": "max"}, "'max'"),
                                        ({"depth": 0}, "depth=0")])
def test_bad_fusion(bad, match):
    with pytest.raises(InputError, match=match):
        Fusion(**bad)


@pytest.fixture
def hybrid_index():
    return Index.build(texts=TEXTS, encoder=FakeEncoder(), lexical=True)


def test_modes_search_their_parts(hybrid_index):
    lexical = hybrid_index.search(["the tree"], k=2, mode="lexical")[0]
    assert lexical[0]["id"] == 3 and lexical[0]["rank"] == 1  # "the" only in row 3
    dense = hybrid_index.search(["the tree"], k=2)[0]
    assert {h["id"] for h in dense} == {3, 5}
    hybrid = hybrid_index.search(["the tree"], k=3, mode="hybrid")[0]
    assert hybrid[0]["id"] == 3 and set(hybrid[0]) == {"id", "text", "score", "rank"}
    assert hybrid_index.search([], mode="hybrid") == []


def test_modes_are_checked():
    plain = Index.build(texts=TEXTS, encoder=FakeEncoder())
    with pytest.raises(InputError, match="lexical=True"):
        plain.search(["cat"], mode="hybrid")
    index = Index.build(texts=TEXTS, encoder=FakeEncoder(), lexical=True)
    with pytest.raises(InputError, match="mode='fuzzy'"):
        index.search(["cat"], mode="fuzzy")
    with pytest.raises(InputError, match="query texts"):
        index.search(np.ones((1, 4), np.float32), mode="lexical")
    with pytest.raises(InputError, match="row 0 has no text"):
        Index.build(embeddings=np.ones((2, 4), np.float32), model_name="m", lexical=True)


def test_add_keeps_both_parts_in_step_and_a_failed_add_changes_nothing(hybrid_index):
    hybrid_index.add(["tree tree dog"], ids=["new"])
    assert len(hybrid_index.lexical) == len(hybrid_index) == 7
    assert hybrid_index.search(["tree dog"], k=1, mode="lexical")[0][0]["id"] == "new"
    with pytest.raises(InputError, match="has no text"):
        hybrid_index.add(embeddings=np.ones((1, 4), np.float32))
    with pytest.raises(InputError, match="duplicate id"):
        hybrid_index.add(["cat"], ids=["new"])
    assert len(hybrid_index.lexical) == len(hybrid_index) == 7


def test_save_load_keeps_lexical_part_and_fusion(hybrid_index, tmp_path):
    hybrid_index.set_fusion(Fusion("rrf", 0.3))
    before = hybrid_index.search(["cat dog", "car"], k=4, mode="hybrid")
    hybrid_index.save(tmp_path / "ix")
    meta = json.loads((tmp_path / "ix" / "meta.json").read_text())
    assert meta["lexical"]["count"] == 6 and meta["fusion"]["method"] == "rrf"
    again = Index.load(tmp_path / "ix")
    assert again.fusion == Fusion("rrf", 0.3)
    assert again.search(["cat dog", "car"], k=4, mode="hybrid", encoder=FakeEncoder()) == before
    again.add(["tree"], encoder=FakeEncoder())  # add to a loaded (memory-mapped) lexical part
    again.save(tmp_path / "ix")
    assert len(Index.load(tmp_path / "ix").lexical) == 7
    (tmp_path / "ix" / "lexical.vocab.json").unlink()
    with pytest.raises(InputError, match="lexical.vocab.json: missing"):
        Index.load(tmp_path / "ix")


def _collection(n=40, seed=0):
    """Rows whose text names a unique code word and whose vector points at a unique direction: queries
    that only one side can answer (lexical: the code word; dense: the direction)."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, 16)).astype(np.float32)
    texts = [f"code{i} filler words" for i in range(n)]
    return texts, vectors


def test_tune_fusion_picks_the_side_that_knows():
    texts, vectors = _collection()
    index = Index.build(texts=texts, embeddings=vectors, model_name="m", lexical=True)
    rng = np.random.default_rng(1)
    # lexical knows (the code word), dense is noise
    queries = [f"code{i}" for i in range(20)]
    report = index.tune_fusion(queries, [[i] for i in range(20)],
                               query_embeddings=rng.standard_normal((20, 16)).astype(np.float32))
    assert report["lexical_ndcg@10"] == 1.0 and report["ndcg@10"] == 1.0 and index.fusion.weight >= 0.5
    # dense knows (its vector), lexical is misleading (another row's code word)
    report = index.tune_fusion([f"code{(i + 1) % 40}" for i in range(20)], [[i] for i in range(20)],
                               query_embeddings=vectors[:20] + 0.01)
    assert report["dense_ndcg@10"] == 1.0 and report["ndcg@10"] == 1.0 and index.fusion.weight < 0.5
    assert report["queries"] == 20 and len(report["tried"]) == 63
    with pytest.raises(InputError, match="relevant\\[0\\] names id 99"):
        index.tune_fusion(["code1"], [[99]], query_embeddings=vectors[:1])


def test_hybrid_beats_both_sides_when_each_knows_half():
    texts, vectors = _collection()
    index = Index.build(texts=texts, embeddings=vectors, model_name="m", lexical=True)
    rng = np.random.default_rng(2)
    # half the queries: the right code word, a random vector; the other half: the right vector, no code word
    queries = [f"code{i}" if i % 2 else "nothing" for i in range(40)]
    qvec = np.where(np.arange(40)[:, None] % 2 == 1, rng.standard_normal((40, 16)), vectors + 0.05).astype(np.float32)
    report = index.tune_fusion(queries, [[i] for i in range(40)], query_embeddings=qvec)
    assert report["ndcg@10"] > max(report["dense_ndcg@10"], report["lexical_ndcg@10"]) + 0.2
    assert DEFAULT.weight == 0.5 and index.fusion is not None


def test_evaluate_retrieval_modes():
    from twinbert.data.examples import RetrievalData
    from twinbert.evaluate.retrieval import evaluate_retrieval

    corpus = {str(i): t for i, t in enumerate(TEXTS)}
    data = RetrievalData(queries={"q1": "the tree", "q2": "dog"}, corpus=corpus, relevant={"q1": {"3"}, "q2": {"1"}})
    details: dict = {}
    lexical = evaluate_retrieval(FakeEncoder(), data, mode="lexical", details=details)
    assert lexical["lexical_ndcg@10"] == 1.0 and details["mode"] == "lexical"
    details = {}
    hybrid = evaluate_retrieval(FakeEncoder(), data, mode="hybrid", fusion_data=data, details=details)
    assert hybrid["hybrid_ndcg@10"] == 1.0
    assert details["fusion"]["chosen_by"] == "tune_fusion" and details["fusion"]["report"]["queries"] == 2
    with pytest.raises(InputError, match="mode='dense'"):
        evaluate_retrieval(FakeEncoder(), data, mode="lexical", index="hnsw")


def test_cli_index_build_lexical_and_search_modes(tiny_bert, tmp_path):
    from tests.search.test_search_cli import cli

    texts = tmp_path / "texts.txt"
    texts.write_text("서울은 대한민국의 수도이다.\n부산은 항구 도시이다.\nthe cat sat on the mat\n", encoding="utf-8")
    done = cli("index", "build", tmp_path / "ix", "--input", texts, "--model", tiny_bert, "--lexical", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["lexical"]["count"] == 3
    for mode in ("lexical", "hybrid"):
        done = cli("search", tmp_path / "ix", "대한민국의 수도는?", "--mode", mode, "-k", "2", "--json")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["mode"] == mode and result["results"][0]["hits"][0]["id"] == 0
    done = cli("index", "build", tmp_path / "plain", "--input", texts, "--model", tiny_bert)
    done = cli("search", tmp_path / "plain", "cat", "--mode", "lexical")
    assert done.returncode == 2 and "lexical=True" in done.stderr


def test_query_embeddings_replace_encoding(hybrid_index):
    vectors = FakeEncoder().encode(["the tree", "cat"])
    assert hybrid_index.search(["x", "y"], k=3, query_embeddings=vectors) == hybrid_index.search(vectors, k=3)
    assert (hybrid_index.search(["the tree", "cat"], k=3, mode="hybrid", query_embeddings=vectors)
            == hybrid_index.search(["the tree", "cat"], k=3, mode="hybrid"))
