"""Retrieval evaluation with the model's query/passage prompts and the lexical / hybrid modes, on the
korquad tasks through `twinbert eval`."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import DATA

from twinbert.cli.main import main
from twinbert.data.examples import RetrievalData
from twinbert.evaluate.retrieval import evaluate_retrieval


class PromptedEncoder:
    """Declares query and passage prompts (as e5 does) and records the prompt of each encode call."""

    name, dimension, prompts = "prompted", 3, {"query": "query: ", "passage": "passage: "}

    def __init__(self):
        self.calls = []

    def encode(self, texts, prompt_name=None, **options):
        self.calls.append((prompt_name, list(texts)))
        # a query finds its passage only through the prompts: queries on one axis, passages on another
        axis = {"query": 0, "passage": 1}.get(prompt_name, 2)
        out = np.zeros((len(texts), 3), np.float32)
        out[:, axis] = 1.0
        out[:, 2] += np.array([len(t) for t in texts]) * 1e-3
        return out


def test_dense_retrieval_encodes_each_side_with_its_prompt():
    encoder = PromptedEncoder()
    data = RetrievalData(queries={"q": "same text"}, corpus={"d": "same text", "e": "other"}, relevant={"q": {"d"}})
    evaluate_retrieval(encoder, data)
    assert encoder.calls == [("query", ["same text"]), ("passage", ["same text", "other"])]
    encoder.calls.clear()
    evaluate_retrieval(encoder, data, prompt_name="passage")  # the caller's prompt: one call for both sides
    assert encoder.calls == [("passage", ["same text", "other"])]


def _eval(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_eval_korquad_lexical(capsys, tiny_bert, tmp_path):
    pytest.importorskip("bm25s")
    # the first four articles of the real file, read by the task's own reader (the whole file: benchmarks)
    full = json.loads((DATA / "korquad" / "KorQuAD_v1.0_dev.json").read_text(encoding="utf-8"))
    small = tmp_path / "korquad-small.json"
    small.write_text(json.dumps({**full, "data": full["data"][:4]}, ensure_ascii=False), encoding="utf-8")
    doc = _eval(capsys, "eval", tiny_bert, "--task", "korquad", "--data", small, "--mode", "lexical", "--json")
    assert doc["main_metric"] == "lexical_ndcg@10" and doc["settings"]["mode"] == "lexical"
    assert doc["settings"]["lexical"]["analyser"]["name"] == "auto"
    assert doc["data"]["corpus"] == sum(len(a["paragraphs"]) for a in full["data"][:4])
    assert doc["metrics"]["lexical_ndcg@10"] > 0.85  # BM25 over Kiwi morphemes: ~0.95 on all of korquad


def test_hybrid_tunes_on_the_dev_split_of_a_task_that_has_one():
    from twinbert.evaluate.run import _fusion_data, prepare

    job = prepare("korquad", "test", data_root=DATA)
    dev = _fusion_data(job, "hybrid", DATA)
    assert dev.split == "dev" and len(dev.retrieval.queries) == 3316
    assert dev.retrieval.corpus == job.dataset.retrieval.corpus
    assert _fusion_data(job, "dense", DATA) is None
    assert _fusion_data(prepare("cranfield", "test", data_root=DATA), "hybrid", DATA) is None  # no dev split
