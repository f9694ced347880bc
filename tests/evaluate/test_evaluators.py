"""Evaluators: hand-computed small cases, the published STS-B figure of all-MiniLM-L6-v2, and equality
with sentence-transformers' evaluators on the same model and data.

The real model is slow on this machine, so the STS-B test embeddings are computed once per module
(CachedEncoder) and the sentence-transformers comparisons run on slices."""
from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import DATA

from twinbert.data import PairExample, RetrievalData, TripletExample, load_task
from twinbert.errors import InputError
from twinbert.evaluate import (
    classification_report,
    evaluate_binary,
    evaluate_retrieval,
    evaluate_sts,
    evaluate_triplets,
    macro_f1,
    nli_accuracy,
    nli_metrics,
    nli_triplets,
    pooling_layer_sweep,
    retrieval_metrics,
)
from twinbert.evaluate.binary import average_precision, best_accuracy_threshold, best_f1_threshold, threshold_metrics
from twinbert.evaluate.sts import pearson, rank, spearman

STS_KEYS = {f"{c}_{s}" for c in ("spearman", "pearson") for s in ("cosine", "euclidean", "manhattan", "dot")}
ALL = ["cosine", "euclidean", "manhattan", "dot"]


class CachedEncoder:
    """Wraps an encoder: texts encoded with the default options are remembered, so several tests
    share one encode of the STS-B test sentences."""

    def __init__(self, encoder):
        self.encoder, self.name, self.cache = encoder, encoder.name, {}
        self.calls = 0

    def encode(self, texts, **options):
        self.calls += 1
        if options:
            return self.encoder.encode(texts, **options)
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            self.cache.update(zip(missing, self.encoder.encode(missing)))
        return np.stack([self.cache[t] for t in texts])


class NoEncoder:
    """An encoder that must not be called: data errors are raised before any encoding."""
    name = "no-encoder"

    def encode(self, texts, **options):
        raise AssertionError("encode was called before the data was checked")


@pytest.fixture(scope="module")
def stsb_test():
    return load_task("stsb", "test", root=DATA)


@pytest.fixture(scope="module")
def cached(minilm, stsb_test):
    enc = CachedEncoder(minilm)
    enc.encode([t for ex in stsb_test.examples for t in (ex.sentence1, ex.sentence2)])
    return enc


# ------------------------------------------------------------------ statistics
def test_rank_and_correlations_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    assert rank([10, 20, 20, 30, 20]).tolist() == [1, 3, 3, 5, 3]
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, 300).astype(float)  # many ties
    y = x + rng.normal(0, 2, 300)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))


# ------------------------------------------------------------------ binary, by hand
def test_thresholds_by_hand():
    scores, labels = [0.9, 0.8, 0.7, 0.6, 0.5], [1, 1, 0, 1, 0]
    # cuts after 0.9 / 0.8 / 0.7 / 0.6 / 0.5 -> accuracy .6 .8 .6 .8 .6; the first best wins
    acc, threshold = best_accuracy_threshold(scores, labels)
    assert acc == pytest.approx(0.8) and threshold == pytest.approx(0.75)
    # F1 .5 .8 .667 .857 .75 -> 6/7 at the cut after 0.6 (P = 3/4, R = 1)
    f1, precision, recall, threshold = best_f1_threshold(scores, labels)
    assert (f1, precision, recall, threshold) == pytest.approx((6 / 7, 0.75, 1.0, 0.55))
    assert average_precision(scores, labels) == pytest.approx((1 + 1 + 0.75) / 3)
    # the same as distances (lower = positive): thresholds read as distances
    distances = [1 - s for s in scores]
    assert best_accuracy_threshold(distances, labels, False) == pytest.approx((0.8, 0.25))
    assert best_f1_threshold(distances, labels, False)[3] == pytest.approx(0.45)
    # ties form one cut; all-negative baseline when nothing beats it
    assert best_accuracy_threshold([0.5, 0.5, 0.4], [1, 0, 0]) == pytest.approx((2 / 3, np.nextafter(np.float32(0.5), np.float32(1))))
    assert best_f1_threshold([0.5, 0.5, 0.4], [1, 0, 0]) == pytest.approx((2 / 3, 0.5, 1.0, 0.45))


def test_thresholds_from_dev_are_applied_to_test():
    dev_scores, dev_labels = [0.9, 0.8, 0.7, 0.6, 0.5], [1, 1, 0, 1, 0]
    m = threshold_metrics([0.8, 0.7, 0.76, 0.1], [1, 0, 0, 0], dev_scores=dev_scores, dev_labels=dev_labels)
    assert m["accuracy_threshold"] == pytest.approx(0.75) and m["f1_threshold"] == pytest.approx(0.55)
    assert m["accuracy"] == pytest.approx(0.75)          # 0.8, 0.76 predicted positive at 0.75
    assert (m["precision"], m["recall"]) == pytest.approx((1 / 3, 1.0))  # 0.8, 0.7, 0.76 at 0.55
    assert m["f1"] == pytest.approx(0.5)
    assert m["ap"] == pytest.approx(1.0)


def test_threshold_search_equals_sentence_transformers_on_random_scores():
    st_eval = pytest.importorskip("sentence_transformers.sentence_transformer.evaluation")
    metrics = pytest.importorskip("sklearn.metrics")
    ref = st_eval.BinaryClassificationEvaluator
    rng = np.random.default_rng(1)
    for trial in range(20):
        n = int(rng.integers(5, 120))
        scores = np.round(rng.normal(size=n), 1 if trial % 2 else 6).astype(np.float32)  # ties on odd trials
        labels = rng.integers(0, 2, n)
        labels[0], labels[1] = 0, 1
        for greater in (True, False):
            ours_acc = best_accuracy_threshold(scores, labels, greater)
            assert ours_acc == pytest.approx(ref.find_best_acc_and_threshold(scores, labels, greater), abs=1e-6)
            ours_f1 = best_f1_threshold(scores, labels, greater)
            assert ours_f1 == pytest.approx(ref.find_best_f1_and_threshold(scores, labels, greater), abs=1e-6)
            sign = 1 if greater else -1
            assert average_precision(scores, labels, greater) == pytest.approx(
                metrics.average_precision_score(labels, sign * scores), abs=1e-9)
            m = threshold_metrics(scores, labels, greater)
            predicted = (scores >= m["f1_threshold"]) if greater else (scores <= m["f1_threshold"])
            assert m["mcc"] == pytest.approx(metrics.matthews_corrcoef(labels, predicted), abs=1e-9)


# ------------------------------------------------------------------ ranking, by hand
def test_ranking_metrics_by_hand():
    m = retrieval_metrics([["a", "b", "c", "d"], ["x", "y"]], [{"b", "d"}, {"z"}],
                          accuracy_at_k=(1, 3), precision_recall_at_k=(1, 3), mrr_at_k=(10,),
                          ndcg_at_k=(10,), map_at_k=(100,))
    # query 1: relevant at ranks 2 and 4; query 2: none found
    assert m["accuracy@1"] == 0 and m["accuracy@3"] == pytest.approx(0.5)
    assert m["precision@3"] == pytest.approx((1 / 3) / 2) and m["recall@3"] == pytest.approx(0.5 / 2)
    assert m["mrr@10"] == pytest.approx(0.5 / 2)
    ndcg = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert m["ndcg@10"] == pytest.approx(ndcg / 2)
    assert m["map@100"] == pytest.approx((1 / 2 + 2 / 4) / 2 / 2)
    # MAP@k divides by min(k, relevant): 3 relevant, k = 2, both top hits relevant -> 1
    assert retrieval_metrics([["a", "b"]], [{"a", "b", "c"}], map_at_k=(2,))["map@2"] == pytest.approx(1.0)


def test_ranking_metrics_equal_sentence_transformers_on_random_rankings():
    st_eval = pytest.importorskip("sentence_transformers.sentence_transformer.evaluation")
    rng = np.random.default_rng(2)
    docs = [str(i) for i in range(150)]
    queries = {str(q): f"q{q}" for q in range(30)}
    relevant = {q: set(rng.choice(docs, int(rng.integers(1, 15)), replace=False)) for q in queries}
    ref = st_eval.InformationRetrievalEvaluator(queries, dict(zip(docs, docs)), relevant,
                                                precision_recall_at_k=[1, 3, 5, 10, 100], write_csv=False)
    rankings = [list(rng.permutation(docs)[:100]) for _ in queries]
    theirs = ref.compute_metrics([[{"corpus_id": d, "score": 1.0 - i / 1000} for i, d in enumerate(r)]
                                  for r in rankings])
    ours = retrieval_metrics(rankings, [relevant[q] for q in queries])
    for key, values in theirs.items():
        for k, value in values.items():
            assert ours[key.replace("@k", f"@{k}")] == pytest.approx(value, abs=1e-12)


# ------------------------------------------------------------------ classification metrics
def test_classification_metrics():
    sk = pytest.importorskip("sklearn.metrics")
    gold = ["a", "b", "c", "a", "b", "a"]
    predicted = ["a", "b", "b", "a", "c", "c"]
    report = classification_report(predicted, gold)
    assert report["accuracy"] == pytest.approx(3 / 6)
    assert report["macro_f1"] == pytest.approx(sk.f1_score(gold, predicted, average="macro"))
    assert macro_f1(predicted, gold) == report["macro_f1"]
    assert report["confusion"] == [[2, 0, 1], [0, 1, 1], [0, 1, 0]]
    assert report["per_class"]["a"] == {"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3}
    # NLI: logits, indexes and names mix through the label order
    logits = np.array([[2.0, 0.1, 0.0], [0.0, 0.1, 3.0], [0.0, 1.0, 0.5]])
    assert nli_accuracy(logits, ["entailment", "contradiction", "contradiction"]) == pytest.approx(2 / 3)
    assert nli_metrics([0, 2, 1], [0, 2, 2])["per_class"]["neutral"]["precision"] == 0.0
    with pytest.raises(InputError, match="not one of the labels"):
        nli_accuracy(["entailment", "maybe"], ["entailment", "neutral"])
    with pytest.raises(InputError, match="one prediction per example"):
        nli_accuracy([0], [0, 1])


# ------------------------------------------------------------------ data checks come first
def test_nli_triplets_pair_ith_entailment_with_ith_contradiction():
    rows = [PairExample("p1", "e1", label="entailment"), PairExample("p1", "n1", label="neutral"),
            PairExample("p1", "c1", label="contradiction"), PairExample("p2", "e2", label="entailment"),
            PairExample("p1", "e1b", label="entailment"), PairExample("p1", "c1b", label="contradiction")]
    assert nli_triplets(rows) == [TripletExample("p1", "e1", "c1"), TripletExample("p1", "e1b", "c1b")]
    with pytest.raises(InputError, match="no premise has both"):
        nli_triplets(rows[3:4])


@pytest.mark.parametrize("call, message", [
    (lambda: evaluate_sts(NoEncoder(), [PairExample("a", "b", 1.0)]), "at least 2"),
    (lambda: evaluate_sts(NoEncoder(), [PairExample("a", "b", 2.0), PairExample("c", "d", 2.0)]), "vary"),
    (lambda: evaluate_sts(NoEncoder(), [PairExample("a", "b"), PairExample("c", "d")]), "no similarity score"),
    (lambda: evaluate_sts(NoEncoder(), [PairExample("a", "b", 1.0), PairExample("c", "d", 2.0)],
                          similarities=["cos"]), "unknown similarity"),
    (lambda: evaluate_sts(NoEncoder(), [PairExample("a", "b", 1.0), PairExample("c", "d", 2.0)], pooling_mode="x"),
     "unknown encode option"),
    (lambda: evaluate_binary(NoEncoder(), [PairExample("a", "b", label=1), PairExample("c", "d", label=1)]),
     "both positive"),
    (lambda: evaluate_binary(NoEncoder(), [PairExample("a", "b", label=2), PairExample("c", "d", label=0)]),
     "expects 0"),
    (lambda: evaluate_triplets(NoEncoder(), []), "no triplets"),
    (lambda: evaluate_retrieval(NoEncoder(), RetrievalData({"1": "q"}, {"d": "doc"}, {})), "no query has"),
    (lambda: evaluate_retrieval(NoEncoder(), RetrievalData({"1": "q"}, {"d": "doc"}, {"1": {"d"}}), metric="l2"),
     "unknown similarity"),
    (lambda: evaluate_retrieval(NoEncoder(), RetrievalData({"1": "q"}, {"d": "doc"}, {"1": {"d"}}), index="annoy"),
     "expected flat"),
    (lambda: evaluate_retrieval(NoEncoder(), RetrievalData({"1": "q"}, {"d": "doc"}, {"1": {"d"}}),
                                index_params={"M": 8}), "approximate"),
])
def test_bad_data_is_refused_before_encoding(call, message):
    with pytest.raises(InputError, match=message):
        call()


class TableEncoder:
    """Texts are keys of a table of fixed vectors."""
    name = "table"

    def __init__(self, table):
        self.table = table

    def encode(self, texts, **options):
        return np.stack([self.table[t] for t in texts])


def test_retrieval_through_an_approximate_index():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(3)
    centers = rng.standard_normal((40, 32))
    table = {f"d{i}": centers[i % 40] + rng.standard_normal(32) for i in range(4000)}
    table.update({f"q{i}": centers[i % 40] + rng.standard_normal(32) for i in range(60)})
    table = {t: v.astype(np.float32) for t, v in table.items()}
    docs = np.stack([table[f"d{i}"] for i in range(4000)])
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    relevant = {f"q{i}": {f"d{j}" for j in np.argsort(-docs @ table[f"q{i}"])[:5]} for i in range(60)}
    data = RetrievalData({f"q{i}": f"q{i}" for i in range(60)}, {f"d{i}": f"d{i}" for i in range(4000)}, relevant)
    encoder = TableEncoder(table)
    exact = evaluate_retrieval(encoder, data)
    # every IVF cell visited: the same ranking as the exact search
    exhaustive = evaluate_retrieval(encoder, data, index="ivf", index_params={"nlist": 16, "nprobe": 16})
    assert exhaustive == pytest.approx(exact, abs=1e-9)
    tuned = evaluate_retrieval(encoder, data, index="hnsw", index_params={"M": 8, "ef_construction": 16})
    assert set(tuned) == set(exact) and exact["cosine_ndcg@10"] > 0.99  # relevant = the 5 nearest
    assert tuned["cosine_ndcg@10"] == pytest.approx(exact["cosine_ndcg@10"], abs=0.05)


# ------------------------------------------------------------------ the real model
def test_published_stsb_score(cached, stsb_test):
    metrics = evaluate_sts(cached, stsb_test)
    assert set(metrics) == STS_KEYS
    # all-MiniLM-L6-v2 model card / SBERT docs: STS-B test Spearman(cosine) 82.03
    assert 100 * metrics["spearman_cosine"] == pytest.approx(82.03, abs=0.05)
    assert all(0.5 < v < 1 for v in metrics.values())


def test_sts_equals_sentence_transformers(cached, st_minilm, stsb_test):
    st_eval = pytest.importorskip("sentence_transformers.sentence_transformer.evaluation")
    part = stsb_test.examples[:150]
    ours = evaluate_sts(cached, part)
    theirs = st_eval.EmbeddingSimilarityEvaluator(
        [e.sentence1 for e in part], [e.sentence2 for e in part], [e.score for e in part],
        similarity_fn_names=ALL, write_csv=False)(st_minilm)
    for key in STS_KEYS:
        assert ours[key] == pytest.approx(theirs[key], abs=1e-4), key


def test_sts_scatter_plot(cached, stsb_test, tmp_path):
    path = tmp_path / "sts.png"
    evaluate_sts(cached, stsb_test.examples[:200], similarities=["dot"], plot=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_binary_equals_sentence_transformers(minilm, st_minilm):
    st_eval = pytest.importorskip("sentence_transformers.sentence_transformer.evaluation")
    part = load_task("mrpc", "test", root=DATA).examples[:80]
    ours = evaluate_binary(minilm, part)
    theirs = st_eval.BinaryClassificationEvaluator(
        [e.sentence1 for e in part], [e.sentence2 for e in part], [e.label for e in part],
        similarity_fn_names=ALL, write_csv=False)(st_minilm)
    theirs = {k: v for k, v in theirs.items() if not k.startswith("max_")}
    assert set(ours) == set(theirs)  # cosine_accuracy ... manhattan_mcc
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, abs=1e-4), key


def test_triplets_equal_sentence_transformers(minilm, st_minilm):
    st_eval = pytest.importorskip("sentence_transformers.sentence_transformer.evaluation")
    # SICK: short English sentences, so the test stays fast; the full KorNLI dev set is compared in
    # the evaluation report (one tie-broken-by-noise triplet apart, see twinbert.evaluate.triplet)
    triplets = nli_triplets(load_task("sick-nli", "train", root=DATA))
    ours = evaluate_triplets(minilm, triplets)
    theirs = st_eval.TripletEvaluator([t.anchor for t in triplets], [t.positive for t in triplets],
                                      [t.negative for t in triplets], similarity_fn_names=ALL,
                                      write_csv=False)(st_minilm)
    assert set(ours) == {f"{s}_accuracy" for s in ALL}
    for key in ours:
        assert ours[key] == pytest.approx(theirs[key], abs=1e-4), key
    assert len(triplets) == 114 and ours["cosine_accuracy"] > 0.7


def test_retrieval_equals_sentence_transformers(minilm, st_minilm):
    """A slice of Cranfield (8 queries; their relevant documents plus 20 others), abstracts cut to
    128 tokens on both sides to keep the test short."""
    st_eval = pytest.importorskip("sentence_transformers.sentence_transformer.evaluation")
    full = load_task("cranfield", "test", root=DATA).retrieval
    qids = list(full.queries)[:8]
    doc_ids = sorted({d for q in qids for d in full.relevant[q]} | {str(i) for i in range(1, 21)}, key=int)
    data = RetrievalData({q: full.queries[q] for q in qids}, {d: full.corpus[d] for d in doc_ids},
                         {q: full.relevant[q] for q in qids})
    saved = minilm.max_seq_length, st_minilm.max_seq_length
    minilm.max_seq_length = st_minilm.max_seq_length = 128
    try:
        ours = evaluate_retrieval(minilm, data)
        theirs = st_eval.InformationRetrievalEvaluator(data.queries, data.corpus, data.relevant,
                                                       precision_recall_at_k=[1, 3, 5, 10, 100],
                                                       write_csv=False)(st_minilm)
    finally:
        minilm.max_seq_length, st_minilm.max_seq_length = saved
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, abs=1e-4), key
    assert ours["cosine_ndcg@10"] > 0.3


# ------------------------------------------------------------------ sweep (tiny model)
def test_sweep_cells_equal_single_evaluations(tiny_bert, stsb_test, tmp_path):
    import twinbert

    encoder = twinbert.load(str(tiny_bert), device="cpu")
    part = stsb_test.examples[:150]
    result = pooling_layer_sweep(encoder, part, plot=tmp_path / "sweep.png")
    layers = encoder.transformer.num_layers
    assert result["columns"] == [str(k) for k in range(layers + 1)] + ["first-last"]
    assert result["poolings"] == ["cls", "mean", "max", "mean_sqrt_len", "weighted_mean", "last_token", "pooler"]
    assert [c for c, v in result["table"]["pooler"].items() if v is not None] == [str(layers)]
    assert result["table"]["cls"]["0"] is None  # every [CLS] embedding is the same vector: no ranking
    for pooling, kwargs, column in [("mean", {}, str(layers)), ("max", {"layers": 1}, "1"),
                                    ("weighted_mean", {"layers": 0}, "0"), ("cls", {"layers": "first-last"}, "first-last"),
                                    ("last_token", {"layers": "first-last"}, "first-last"), ("pooler", {}, str(layers))]:
        single = evaluate_sts(encoder, part, similarities=["cosine"], pooling=pooling, **kwargs)
        assert result["table"][pooling][column] == pytest.approx(single["spearman_cosine"], abs=1e-6), pooling
    best = result["best"]
    assert result["table"][best["pooling"]][best["layer"]] == best["spearman_cosine"]
    assert (tmp_path / "sweep.png").read_bytes()[:4] == b"\x89PNG"
