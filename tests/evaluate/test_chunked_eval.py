"""Retrieval of long documents by their chunks: the metrics against a ranking computed by hand (each
document scored by its best chunk), and `twinbert eval --chunking` naming the chunking in its JSON."""
from __future__ import annotations

import json

import numpy as np
import pytest

import twinbert
from twinbert.data.examples import RetrievalData
from twinbert.errors import InputError
from twinbert.evaluate.retrieval import evaluate_retrieval, retrieval_metrics
from twinbert.evaluate.run import run_eval

CORPUS = {"d0": "the cat sat on the mat. " * 6 + "a duck is happy!",
          "d1": "i love music. a man and a woman play guitar? " * 3,
          "d2": "the food is good. it is very bad. " * 4 + "i love paris.",
          "d3": "soccer is fun. the dog ran in the park. " * 5}
QUERIES = {"q0": "a happy duck", "q1": "guitar music", "q2": "paris", "q3": "the dog in the park", "q4": "the mat"}
RELEVANT = {"q0": {"d0"}, "q1": {"d1"}, "q2": {"d2"}, "q3": {"d3"}, "q4": {"d0"}}


@pytest.fixture(scope="module")
def tiny(tiny_bert):
    return twinbert.load(tiny_bert, device="cpu", backend="torch")


@pytest.mark.parametrize("chunking", ["chunks", "late"])
def test_documents_are_ranked_by_their_best_chunk(tiny, chunking):
    data = RetrievalData(QUERIES, CORPUS, RELEVANT)
    details: dict = {}
    metrics = evaluate_retrieval(tiny, data, chunking=chunking, chunk_tokens=10, overlap=2, details=details)
    chunks = tiny.encode(list(CORPUS.values()), chunking=chunking, chunk_tokens=10, overlap=2)
    unit = chunks.vectors / np.linalg.norm(chunks.vectors, axis=1, keepdims=True)
    q = tiny.encode(list(QUERIES.values()))
    scores = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ unit.T
    best = np.stack([scores[:, chunks.document == d].max(1) for d in range(len(CORPUS))], axis=1)
    ids = list(CORPUS)
    rankings = [[ids[d] for d in sorted(range(len(ids)), key=lambda d: (-row[d], ids[d]))] for row in best]
    expected = retrieval_metrics(rankings, [RELEVANT[q] for q in QUERIES])
    assert metrics["cosine_ndcg@10"] == pytest.approx(expected["ndcg@10"])
    assert metrics["cosine_mrr@10"] == pytest.approx(expected["mrr@10"])
    assert details["chunking"] == {"method": chunking, "chunk_tokens": 10, "overlap": 2, "chunks": len(chunks)}


def test_eval_names_the_chunking_in_its_document(tiny, tmp_path):
    articles = [{"title": name, "paragraphs": [{"context": text, "qas": [
        {"id": q, "question": QUERIES[q]} for q in QUERIES if name in RELEVANT[q]]}]} for name, text in CORPUS.items()]
    path = tmp_path / "korquad.json"
    path.write_text(json.dumps({"data": articles}), encoding="utf-8")
    doc = run_eval(tiny, "korquad-docs", data=path, chunking="late", chunk_tokens=12, overlap=3)
    assert doc["settings"]["chunking"]["method"] == "late" and doc["main_metric"] == "cosine_ndcg@10"
    plain = run_eval(tiny, "korquad-docs", data=path, chunking="none")
    assert plain["settings"]["chunking"] == "none"
    with pytest.raises(InputError, match="give chunking too"):
        run_eval(tiny, "korquad-docs", data=path, chunk_tokens=12)
    sts = tmp_path / "sts.csv"
    sts.write_text("sentence1,sentence2,score\nthe cat,the dog,3\na man,a woman,2\n", encoding="utf-8")
    with pytest.raises(InputError, match="evaluated as sts; chunking applies to retrieval"):
        run_eval(tiny, "sts", data=sts, chunking="late")
