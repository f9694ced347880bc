"""twinbert classify / cross-encoder / mlm through the real command line, in ONE child process (each costs
seconds of imports): training on tiny random models, the other verbs on the results, errors and exit codes."""
from __future__ import annotations

import json

import numpy as np
from cli_runner import cli_env, run_cli_batch
from test_classifier import NEGATIVE, POSITIVE, write_tsv
from test_cross_encoder import PAIRS
from test_mlm import TEXTS


def test_head_commands(tmp_path, tiny_bert):
    tiny = str(tiny_bert)
    train = write_tsv(tmp_path / "train.tsv", [(t, "pos") for t in POSITIVE] + [(t, "neg") for t in NEGATIVE])
    dev = write_tsv(tmp_path / "dev.tsv", [("i love music", "pos"), ("bad food", "neg")])
    odd = write_tsv(tmp_path / "odd.tsv", [("so so", "meh")])
    empty = write_tsv(tmp_path / "empty.tsv", [])
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("s1\ts2\tscore\n" + "".join(f"{a}\t{b}\t{s}\n" for a, b, s in PAIRS), encoding="utf-8")
    bad = tmp_path / "bad.tsv"
    bad.write_text("s1\ts2\tscore\nthe cat\ta cat\t9\n", encoding="utf-8")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a cat sat on a mat\nsoccer is fun\nthe duck is rubber\n", encoding="utf-8")
    text = tmp_path / "text.txt"
    text.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n", encoding="utf-8")
    clf, ce, mlm = tmp_path / "clf", tmp_path / "ce", tmp_path / "mlm"
    common = ["--no-progress", "--json"]
    cases = {
        "clf_train": ["classify", "train", "--model", tiny, "--task", str(train), "--eval", str(dev), "--output",
                      str(clf), "--max-steps", "3", "--batch-size", "4", "--lr", "1e-3", *common],
        "clf_eval": ["classify", "eval", str(clf), "--task", str(dev), "--json"],
        "clf_eval_text": ["classify", "eval", str(clf), "--task", str(dev)],
        "clf_predict": ["classify", "predict", str(clf), "i love paris", "bad game", "--json"],
        "clf_unseen": ["classify", "eval", str(clf), "--task", str(odd)],
        "clf_empty": ["classify", "train", "--model", tiny, "--task", str(empty), "--output", str(tmp_path / "x")],
        "clf_no_head": ["classify", "predict", tiny, "hello"],
        "ce_train": ["cross-encoder", "train", "--model", tiny, "--task", str(pairs), "--columns", "s1,s2,score",
                     "--eval", str(pairs), "--output", str(ce), "--max-steps", "2", "--batch-size", "4", *common],
        "ce_score": ["cross-encoder", "score", str(ce), "the cat sat", "a cat sat", "i love paris", "soccer", "--json"],
        "ce_score_text": ["cross-encoder", "score", str(ce), "the cat sat", "a cat sat"],
        "ce_rerank": ["cross-encoder", "rerank", str(ce), "the cat", "--input", str(corpus), "-k", "2", "--json"],
        "ce_odd": ["cross-encoder", "score", str(ce), "only one"],
        "ce_bad_score": ["cross-encoder", "train", "--model", tiny, "--task", str(bad), "--columns", "s1,s2,score",
                         "--output", str(tmp_path / "y")],
        "mlm_train": ["mlm", "train", "--model", tiny, "--data", str(text), "--whole-word", "--eval", str(text),
                      "--eval-limit", "6", "--output", str(mlm), "--max-steps", "2", "--batch-size", "8", *common],
        "mlm_eval": ["mlm", "eval", str(mlm), "--data", str(text), "--limit", "6", "--json"],
        "mlm_eval_text": ["mlm", "eval", str(mlm), "--data", str(text), "--whole-word"],
        "fill": ["fill-mask", str(mlm), "the cat sat on the [MASK] .", "--json"],
        "mlm_no_head": ["mlm", "eval", tiny, "--data", str(text)],
        "mlm_new_head": ["mlm", "eval", tiny, "--data", str(text), "--allow-new-head", "--json"],
        "mlm_blank": ["mlm", "train", "--model", tiny, "--data", str(blank), "--output", str(tmp_path / "z")],
        "mlm_no_data": ["mlm", "eval", str(mlm)],
    }
    r = run_cli_batch(cases, tmp_path, cli_env(tmp_path / "hf"))
    for name in ("clf_train", "ce_train", "mlm_train"):
        assert r[name]["rc"] == 0, r[name]["stderr"]

    assert json.loads(r["clf_train"]["stdout"])["steps"] == 3
    assert "new, randomly initialized classification head for labels ['neg', 'pos']" in r["clf_train"]["stderr"]
    doc = json.loads(r["clf_eval"]["stdout"])
    assert doc["examples"] == 2 and doc["labels"] == ["neg", "pos"] and np.array(doc["confusion"]).sum() == 2
    assert "accuracy" in r["clf_eval_text"]["stdout"] and "predicted pos" in r["clf_eval_text"]["stdout"]
    predictions = json.loads(r["clf_predict"]["stdout"])
    assert [p["text"] for p in predictions] == ["i love paris", "bad game"]
    assert all(abs(sum(p["probabilities"].values()) - 1) < 1e-6 for p in predictions)
    assert r["clf_unseen"]["rc"] == 2 and "label 'meh', which the classifier does not know" in r["clf_unseen"]["stderr"]
    assert r["clf_empty"]["rc"] == 2 and "empty.tsv: no rows" in r["clf_empty"]["stderr"]
    assert r["clf_no_head"]["rc"] == 2 and "has no sequence-classification head" in r["clf_no_head"]["stderr"]

    assert json.loads(r["ce_train"]["stdout"])["main_metric"] == "spearman"
    scores = json.loads(r["ce_score"]["stdout"])
    assert [s["first"] for s in scores] == ["the cat sat", "i love paris"] and all(0 < s["score"] < 1 for s in scores)
    assert "score" in r["ce_score_text"]["stdout"] and "a cat sat" in r["ce_score_text"]["stdout"]
    doc = json.loads(r["ce_rerank"]["stdout"])
    assert doc["query"] == "the cat" and [h["rank"] for h in doc["hits"]] == [1, 2]
    assert r["ce_odd"]["rc"] == 2 and "1 texts: give pairs" in r["ce_odd"]["stderr"]
    assert r["ce_bad_score"]["rc"] == 2 and "bad.tsv, line 2" in r["ce_bad_score"]["stderr"]

    assert json.loads(r["mlm_train"]["stdout"])["steps"] == 2
    assert '"lr": 5e-05' in (mlm / "README.md").read_text()  # the masked LM's lr is the library's default
    assert "new, randomly initialized masked-LM head" in r["mlm_train"]["stderr"]
    doc = json.loads(r["mlm_eval"]["stdout"])
    assert doc["texts"] == 6 and doc["masked_tokens"] > 0 and doc["perplexity"] > 1 and doc["seed"] == 0
    assert "masked-token accuracy" in r["mlm_eval_text"]["stdout"] and "whole words" in r["mlm_eval_text"]["stdout"]
    assert r["fill"]["rc"] == 0 and len(json.loads(r["fill"]["stdout"])[0]) == 5
    assert r["mlm_no_head"]["rc"] == 2 and "has no masked-LM head" in r["mlm_no_head"]["stderr"]
    assert r["mlm_new_head"]["rc"] == 0 and json.loads(r["mlm_new_head"]["stdout"])["accuracy"] >= 0
    assert r["mlm_blank"]["rc"] == 2 and "blank.txt: no rows" in r["mlm_blank"]["stderr"]
    assert r["mlm_no_data"]["rc"] == 2
    assert "either with --task TASK:SPLIT or with --data FILE" in r["mlm_no_data"]["stderr"]
