"""Faults and scale: kill -9 mid-training then --resume ends with the same model as an uninterrupted
run; 2 data-parallel processes (torchrun, gloo) end with the same weights as 1 process."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from cli_runner import cli_env, run_cli_batch
from conftest import build_tiny_bert
from safetensors.torch import load_file
from test_trainer import no_dropout, sts_file


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    return root, build_tiny_bert(root / "bert", seed=4), sts_file(root / "pairs.tsv", rows=240, seed=2)


def train_args(model, data, out, *extra):
    return ["train", "--model", str(model), "--task", "sts", "--data", str(data), "--loss", "cosine",
            "--epochs", "2", "--batch-size", "4", "--lr", "5e-4", "--seed", "11", "--checkpoint-every", "5",
            "--output", str(out), "--no-progress", *extra]


def test_kill_9_then_resume_gives_the_uninterrupted_model(setup, tmp_path):
    root, model, data = setup
    env = cli_env(tmp_path / "hf")
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "twinbert", *train_args(model, data, killed)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log, step = killed / "train_log.jsonl", 0
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if log.is_file():
            steps = [json.loads(x)["step"] for x in log.read_text().splitlines() if '"checkpoint"' in x]
            if steps and steps[-1] >= 20:
                step = steps[-1]
                os.kill(proc.pid, signal.SIGKILL)
                break
        time.sleep(0.01)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the run was not killed mid-way: {proc.stderr.read()[-2000:]}"
    assert step < 120 and not (killed / "modules.json").exists()
    results = run_cli_batch({
        "resume": train_args(model, data, killed, "--resume"),
        "straight": train_args(model, data, tmp_path / "straight", "--keep-checkpoint"),
        "changed": train_args(model, data, tmp_path / "straight", "--resume", "--lr", "1e-3"),
    }, tmp_path, env)
    assert results["resume"]["rc"] == 0, results["resume"]["stderr"]
    assert results["straight"]["rc"] == 0, results["straight"]["stderr"]
    assert "resuming at step" in results["resume"]["stderr"]
    resumed, straight = load_file(str(killed / "model.safetensors")), load_file(str(tmp_path / "straight" / "model.safetensors"))
    for key, value in straight.items():
        torch.testing.assert_close(resumed[key], value, atol=1e-6, rtol=1e-5)
    # the log of the resumed run holds each step once
    train_steps = [json.loads(x)["step"] for x in (killed / "train_log.jsonl").read_text().splitlines()
                   if '"train"' in x]
    assert train_steps == sorted(set(train_steps)) and train_steps[-1] == 120
    assert not (killed / "checkpoint").exists() and (tmp_path / "straight" / "checkpoint").is_dir()
    assert results["changed"]["rc"] == 2
    assert "lr was 0.0005 in the interrupted run but is 0.001 now" in results["changed"]["stderr"]


def test_two_processes_match_one_process_with_the_combined_batch(setup, tmp_path):
    root, model, data = setup
    model = no_dropout(build_tiny_bert(tmp_path / "bert", seed=4))  # dropout differs between processes
    env = cli_env(tmp_path / "hf")
    args = ["--max-steps", "12", "--checkpoint-every", "100"]
    one = subprocess.run([sys.executable, "-m", "twinbert", *train_args(model, data, tmp_path / "one", *args)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                          "--master-port", "29517", "-m", "twinbert", *train_args(model, data, tmp_path / "two", *args)],
                         env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = load_file(str(tmp_path / "one" / "model.safetensors")), load_file(str(tmp_path / "two" / "model.safetensors"))
    changed = 0
    for key, value in a.items():
        torch.testing.assert_close(b[key], value, atol=1e-5, rtol=1e-4)
        changed += int(not torch.equal(value, load_file(str(model / "model.safetensors")).get(key, value)))
    assert changed > 10  # the weights did move
