"""twinbert train: the documented command on the real model, config files, and refusals (exit 2)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from cli_runner import cli_env, run_cli_batch
from conftest import build_tiny_bert
from test_trainer import sts_file

DATA = __import__("pathlib").Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.mark.slow
def test_documented_command_on_the_default_model(tmp_path):
    out = tmp_path / "DIR"
    env = {**cli_env(tmp_path / "hf"), "TWINBERT_DATA": str(DATA)}
    results = run_cli_batch({"train": [
        "train", "--model", "all-MiniLM-L6-v2", "--task", "stsb", "--loss", "cosine", "--epochs", "1",
        "--batch-size", "16", "--lr", "2e-5", "--warmup", "0.1", "--seed", "42", "--eval", "stsb:dev",
        "--output", str(out), "--max-steps", "2", "--json"]}, tmp_path, env)
    assert results["train"]["rc"] == 0, results["train"]["stderr"]
    doc = json.loads(results["train"]["stdout"])
    assert doc["steps"] == 2 and doc["main_metric"] == "spearman_cosine"
    assert 0.8 < doc["best_metrics"]["spearman_cosine"] < 0.9
    assert {"train_log.jsonl", "learning_curve.png", "README.md", "modules.json"} <= {p.name for p in out.iterdir()}
    from sentence_transformers import SentenceTransformer

    import twinbert

    ours = twinbert.load(out, device="cpu").encode(["A man is playing a guitar."])
    theirs = SentenceTransformer(str(out), device="cpu").encode(["A man is playing a guitar."])
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    card = (out / "README.md").read_text()
    assert "stsb/train" in card and "| spearman_cosine |" in card


def test_config_files_flags_and_refusals(tmp_path):
    model = build_tiny_bert(tmp_path / "bert")
    data = sts_file(tmp_path / "pairs.tsv", rows=32)
    (tmp_path / "run.toml").write_text(
        f'model = "{model}"\noutput = "{tmp_path / "toml"}"\nepochs = 1\nbatch_size = 8\nlr = 1e-4\n'
        'keep_checkpoint = true\n\n'
        f'[[datasets]]\ntask = "sts"\ndata = "{data}"\nloss = "cosine"\n\n'
        f'[[datasets]]\ntask = "sts"\ndata = "{data}"\nloss = "cosent"\nscale = 10\n')
    (tmp_path / "run.yaml").write_text(
        f"model: {model}\ntask: sts\ndata: {data}\nloss: cosine\nbatch_size: 16\nmax_steps: 1\n")
    (tmp_path / "bad.toml").write_text('epochz = 3\n')
    common = ["--task", "sts", "--data", str(data)]
    results = run_cli_batch({
        "toml": ["train", "--config", str(tmp_path / "run.toml"), "--json", "--no-progress"],
        "yaml": ["train", "--config", str(tmp_path / "run.yaml"), "--output", str(tmp_path / "yaml"), "--json",
                 "--batch-size", "8", "--no-progress"],
        "bad_key": ["train", "--config", str(tmp_path / "bad.toml")],
        "unknown_loss": ["train", "--model", str(model), *common, "--loss", "hinge", "--output", str(tmp_path / "a")],
        "loss_count": ["train", "--model", str(model), *common, "--task", "sts", "--loss", "cosine", "--loss",
                       "cosent", "--loss", "mnrl", "--output", str(tmp_path / "a")],
        "no_output": ["train", "--model", str(model), *common, "--loss", "cosine"],
        "no_checkpoint": ["train", "--model", str(model), *common, "--loss", "cosine", "--resume",
                          "--output", str(tmp_path / "empty")],
        "triplet_on_pairs": ["train", "--model", str(model), *common, "--loss", "triplet", "--output", str(tmp_path / "a")],
        "bad_lr": ["train", "--model", str(model), *common, "--loss", "cosine", "--lr", "-1", "--output", str(tmp_path / "a")],
        "again": ["train", "--model", str(model), *common, "--loss", "cosine", "--output", str(tmp_path / "toml")],
    }, tmp_path, cli_env(tmp_path / "hf"))
    for name in ("toml", "yaml"):
        assert results[name]["rc"] == 0, results[name]["stderr"]
    assert json.loads(results["toml"]["stdout"])["steps"] == 4 + 4   # 2 datasets x 32 rows / batch 8
    assert json.loads(results["yaml"]["stdout"])["steps"] == 1
    assert "cosent (CoSENTLoss) | scale=10" in (tmp_path / "toml" / "README.md").read_text()
    expected = {
        "bad_key": "unknown setting 'epochz'",
        "unknown_loss": "--loss 'hinge': unknown; expected one of softmax, cosine",
        "loss_count": "2 --task but 3 --loss",
        "no_output": "--output DIR is required",
        "no_checkpoint": "there is no checkpoint to continue",
        "triplet_on_pairs": "TripletLoss needs (anchor, positive, negative) triplets",
        "bad_lr": "lr = -1.0: expected a positive number",
        "again": "holds a training checkpoint; pass --resume to continue it",
    }
    for name, message in expected.items():
        assert results[name]["rc"] == 2, (name, results[name]["stderr"])
        assert message in results[name]["stderr"], (name, results[name]["stderr"])
        assert "Traceback" not in results[name]["stderr"]
