"""search_and_rerank: the index's candidates, reordered by a cross-encoder (here a stand-in that
scores word overlap, so the expected order is known)."""
from __future__ import annotations

import numpy as np
import pytest

from twinbert.errors import InputError
from twinbert.search import Index, search_and_rerank

VOCAB = ["cat", "dog", "car", "tree"]
TEXTS = ["cat cat", "dog", "a car", "the tree", "cat and dog", "car car tree"]


class BagOfWords:
    name, dimension = "bow", 4

    def encode(self, texts, **_):
        return np.array([[0.01 + t.split().count(w) for w in VOCAB] for t in texts], np.float32)


class OverlapCrossEncoder:
    """Scores (query, text) by shared words; ranks like twinbert.bert.CrossEncoder.rerank."""

    def __init__(self):
        self.calls = []

    def rerank(self, query, candidates, *, top_k=None, label=None, batch_tokens=None):
        self.calls.append((query, [c["text"] for c in candidates], top_k))
        scored = [{"index": i, "id": c["id"], "text": c["text"], "first_stage_score": c["score"],
                   "score": float(len(set(query.split()) & set(c["text"].split())))}
                  for i, c in enumerate(candidates)]
        ranked = sorted(scored, key=lambda h: (-h["score"], h["index"]))[:top_k]
        return [{"rank": r, **h} for r, h in enumerate(ranked, 1)]


def test_candidates_from_the_index_reordered_by_the_cross_encoder():
    index = Index.build(texts=TEXTS, encoder=BagOfWords(), ids=[f"t{i}" for i in range(len(TEXTS))])
    cross = OverlapCrossEncoder()
    hits = search_and_rerank(index, ["cat and dog", "tree"], cross, k=2, candidates=4)
    assert len(hits) == 2 and all(len(row) == 2 for row in hits)
    first = index.search(["cat and dog"], k=4)[0]
    assert cross.calls[0] == ("cat and dog", [h["text"] for h in first], 2)  # the index's 4 best, in order
    assert hits[0][0]["text"] == "cat and dog" and hits[0][0]["rank"] == 1
    assert {h["id"] for h in hits[1]} <= {h["id"] for h in index.search(["tree"], k=4)[0]}
    assert search_and_rerank(index, "tree", cross, k=None, candidates=3)[0][0]["text"] == "the tree"
    assert len(search_and_rerank(index, "tree", cross, k=None, candidates=3)[0]) == 3


@pytest.mark.parametrize("kwargs, argument", [({"candidates": 0}, "candidates"), ({"k": 0}, "k"),
                                              ({"queries": []}, "queries"), ({"queries": [3]}, "queries")])
def test_bad_arguments_are_named(kwargs, argument):
    index = Index.build(texts=TEXTS, encoder=BagOfWords())
    call = {"queries": "cat", **kwargs}
    with pytest.raises(InputError) as refused:
        search_and_rerank(index, call.pop("queries"), OverlapCrossEncoder(), **call)
    assert refused.value.argument == argument
