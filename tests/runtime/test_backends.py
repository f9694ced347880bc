"""Every encode option on every backend: a tiny random BERT run by ONNX Runtime and by OpenVINO gives what
torch gives (fp32, <= 1e-5) for every pooling, layer choice, output kind, normalize and prompt; training
drops the runtime; the runtime is chosen as documented (twinbert.runtime.choose)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import twinbert
from twinbert.errors import InputError, MissingExtraError
from twinbert.runtime import cpu, sessions
from twinbert.runtime.choose import ORDER, choose

TEXTS = ["the cat sat on the mat .", "", "i love paris and soccer", "a dog", "the man ran in the park . " * 3]
POOLINGS = ["cls", "mean", "max", "mean_sqrt_len", "weighted_mean", "last_token", "pooler", "cls+mean"]


@pytest.fixture(scope="module")
def torch_tiny(tiny_bert):
    return twinbert.load(str(tiny_bert), device="cpu", backend="torch")


@pytest.fixture(scope="module", params=["onnx", "openvino"])
def runtime_tiny(request, tiny_bert):
    return twinbert.load(str(tiny_bert), device="cpu", backend=request.param)


def _close(a, b):
    if isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert x.shape == y.shape
            np.testing.assert_allclose(x, y, atol=1e-5)
    else:
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_reports_what_runs(runtime_tiny, torch_tiny):
    assert runtime_tiny.backend in ("onnx", "openvino") and runtime_tiny.precision == "float32"
    assert torch_tiny.backend == "torch" and torch_tiny.precision == "float32"
    assert runtime_tiny.settings()["backend"] == runtime_tiny.backend
    info = runtime_tiny.runtime_info()
    assert info["backend"] == runtime_tiny.backend and "native_bf16" in info and info["cpu"]


@pytest.mark.parametrize("pooling", POOLINGS)
def test_every_pooling_equals_torch(runtime_tiny, torch_tiny, pooling):
    for normalize in (False, True):
        _close(runtime_tiny.encode(TEXTS, pooling=pooling, normalize=normalize),
               torch_tiny.encode(TEXTS, pooling=pooling, normalize=normalize))


@pytest.mark.parametrize("layers", [0, 1, -1, "first-last", [0, 2], "1,2"])
def test_every_layer_choice_equals_torch(runtime_tiny, torch_tiny, layers):
    for pooling in ("mean", "cls", "max"):
        _close(runtime_tiny.encode(TEXTS, pooling=pooling, layers=layers),
               torch_tiny.encode(TEXTS, pooling=pooling, layers=layers))
    _close(runtime_tiny.encode(TEXTS, output="token", layers=layers),
           torch_tiny.encode(TEXTS, output="token", layers=layers))


def test_token_and_all_layer_outputs_equal_torch(runtime_tiny, torch_tiny):
    for normalize in (False, True):
        _close(runtime_tiny.encode(TEXTS, output="token", normalize=normalize),
               torch_tiny.encode(TEXTS, output="token", normalize=normalize))
        _close(runtime_tiny.encode(TEXTS, output="all_layers", pooling="mean", normalize=normalize),
               torch_tiny.encode(TEXTS, output="all_layers", pooling="mean", normalize=normalize))
    got = runtime_tiny.encode(TEXTS, output="all_layers", pooling="cls+max")
    assert got.shape == (len(TEXTS), 3, 64)
    _close(got, torch_tiny.encode(TEXTS, output="all_layers", pooling="cls+max"))


def test_prompts_batches_streams_and_torch_tensors_equal_torch(runtime_tiny, torch_tiny):
    _close(runtime_tiny.encode(TEXTS, prompt="the dog : "), torch_tiny.encode(TEXTS, prompt="the dog : "))
    _close(runtime_tiny.encode(TEXTS * 7, batch_tokens=16), torch_tiny.encode(TEXTS * 7, batch_tokens=4096))
    streamed = np.concatenate(list(runtime_tiny.encode_stream(iter(TEXTS * 3), chunk_rows=4, show_progress=False)))
    _close(streamed, torch_tiny.encode(TEXTS * 3))
    single = runtime_tiny.encode("a dog", convert_to="torch")
    assert isinstance(single, torch.Tensor)
    _close(single.numpy(), torch_tiny.encode("a dog"))


def test_dense_modules_run_after_the_runtime(tiny_bert, tmp_path):
    from twinbert.modules.dense import Dense

    base = twinbert.load(str(tiny_bert), device="cpu", backend="torch")
    torch.manual_seed(3)
    base.dense.append(Dense(32, 8))
    base.save(tmp_path / "dense")
    ours = twinbert.load(str(tmp_path / "dense"), device="cpu", backend="onnx")
    ref = twinbert.load(str(tmp_path / "dense"), device="cpu", backend="torch")
    assert ours.encode(TEXTS).shape == (len(TEXTS), 8)
    _close(ours.encode(TEXTS), ref.encode(TEXTS))


def test_training_runs_in_torch_and_evaluates_the_weights_being_trained(tiny_bert):
    encoder = twinbert.load(str(tiny_bert), device="cpu", backend="onnx")
    before = encoder.encode(TEXTS)
    encoder.train()
    assert encoder.backend == "torch"
    with torch.no_grad():
        encoder.transformer.model.embeddings.word_embeddings.weight.mul_(2.0)
    encoder.eval()
    after = encoder.encode(TEXTS)
    assert np.abs(after - before).max() > 1e-3  # the changed weights, not the graph compiled before


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_weights_changed_after_the_first_encode_are_the_weights_that_run(tiny_bert, tmp_path, backend):
    import shutil

    folder = shutil.copytree(tiny_bert, tmp_path / "model")
    encoder = twinbert.load(str(folder), device="cpu", backend=backend)
    original = encoder.encode(TEXTS)  # compiles and caches the graph of the loaded weights
    with torch.no_grad():  # an in-place edit after loading (as vocabulary trimming or load_state_dict do)
        encoder.transformer.model.embeddings.word_embeddings.weight.mul_(2.0)
    changed = encoder.encode(TEXTS)
    reference = twinbert.load(str(folder), device="cpu", backend="torch")
    reference.transformer.model.load_state_dict(encoder.transformer.model.state_dict())
    _close(changed, reference.encode(TEXTS))
    assert np.abs(changed - original).max() > 1e-3
    # the cache entry of the folder's own weights still holds their graph
    _close(twinbert.load(str(folder), device="cpu", backend=backend).encode(TEXTS), original)


def test_a_call_with_its_own_precision_runs_torch_autocast(runtime_tiny, torch_tiny):
    _close(runtime_tiny.encode(TEXTS, precision="bfloat16"), torch_tiny.encode(TEXTS, precision="bfloat16"))
    _close(runtime_tiny.encode(TEXTS, precision="float32"), torch_tiny.encode(TEXTS))
    assert runtime_tiny.backend in ("onnx", "openvino")  # the runtime stays for the calls without


def test_auto_picks_a_runtime_on_the_cpu_and_stays_exact(tiny_bert, torch_tiny):
    encoder = twinbert.load(str(tiny_bert), device="cpu")
    assert encoder.backend == ORDER["float32"][0]
    _close(encoder.encode(TEXTS), torch_tiny.encode(TEXTS))


def test_choices_follow_the_cpu(monkeypatch):
    monkeypatch.setattr(cpu, "flags", lambda: frozenset({"avx2", "avx512f"}))  # an Intel Xeon without bf16
    assert choose("auto", "auto", "near", "cpu").precision == "float32"  # never emulated bf16
    assert choose("auto", "auto", "fast", "cpu").precision == "int8"
    assert choose("auto", "bfloat16", "exact", "cpu").backend == "torch"
    monkeypatch.setattr(cpu, "flags", lambda: frozenset({"avx512f", "avx512_bf16", "avx512_vnni"}))
    picked = choose("auto", "auto", "near", "cpu")
    assert (picked.backend, picked.precision) == ("openvino", "bfloat16")
    assert "natively" in picked.reason
    assert choose("auto", "auto", "exact", "cpu").precision == "float32"
    assert choose("auto", "float32", "exact", "cuda").backend == "torch"


@pytest.mark.parametrize("backend, precision, message", [
    ("onnx", "bfloat16", "precision 'bfloat16' is not computed by backend 'onnx'; use backend 'torch' or 'openvino'"),
    ("torch", "int8", "precision 'int8' is not computed by backend 'torch'; use backend 'onnx' or 'openvino'"),
    ("openvino", "float16", "use backend 'torch' for float16"),
    ("tensorrt", "float32", "unknown backend 'tensorrt': expected one of auto, torch, onnx, openvino"),
])
def test_impossible_combinations_name_what_to_use(backend, precision, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        choose(backend, precision, "exact", "cpu")


def test_missing_runtime_names_the_extra(monkeypatch, tiny_bert):
    import builtins

    real = builtins.__import__

    def no_ort(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ort)
    with pytest.raises(MissingExtraError, match=r"pip install 'twinbert\[onnx\]'") as e:
        twinbert.load(str(tiny_bert), device="cpu", backend="onnx")
    assert e.value.extra == "onnx"
    assert not sessions.available("onnx")
    assert choose("auto", "float32", "exact", "cpu").backend == "openvino"  # the next fastest


def test_cli_commands_take_backend_and_precision(tiny_bert, tmp_path):
    from cli_runner import cli_env, run_cli_batch

    (tmp_path / "texts.txt").write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    model = str(tiny_bert)
    cases = {
        "info": ["info", model, "--backend", "openvino", "--json"],
        "encode-onnx": ["encode", "--model", model, "--input", str(tmp_path / "texts.txt"), "--output",
                        str(tmp_path / "onnx.npy"), "--backend", "onnx", "--quiet"],
        "encode-torch": ["encode", "--model", model, "--input", str(tmp_path / "texts.txt"), "--output",
                         str(tmp_path / "torch.npy"), "--backend", "torch", "--quiet"],
        "similarity-int8": ["similarity", "--model", model, "the cat", "a dog", "--precision", "auto",
                            "--quality", "fast", "--json"],
        "compare": ["compare", "the cat", "a dog", "--models", model, "--poolings", "mean", "--backend", "openvino"],
    }
    out = run_cli_batch(cases, tmp_path, cli_env(tmp_path / "hf"))
    for name, result in out.items():
        assert result["rc"] == 0, (name, result["stderr"][-2000:])
    import json

    info = json.loads(out["info"]["stdout"])
    assert info["runtime"]["backend"] == "openvino" and "flags" in info["runtime"] and "native_bf16" in info["runtime"]
    assert info["backend"] == "openvino"
    np.testing.assert_allclose(np.load(tmp_path / "onnx.npy"), np.load(tmp_path / "torch.npy"), atol=1e-5)
    settings = json.loads(out["similarity-int8"]["stdout"])["settings"]
    assert (settings["backend"], settings["precision"]) == ("onnx", "int8")


def test_openvino_sends_no_telemetry_and_leaves_no_process(tiny_bert, tmp_path):
    """`import openvino` and its model converter send usage events from a forked process that, with no
    network, blocks in DNS and keeps the program from exiting (a test run hung at exit on it): twinbert
    imports OpenVINO with its telemetry declined and reads graphs with the runtime's own ONNX reader."""
    import os
    import shutil
    import subprocess
    import sys

    pytest.importorskip("openvino")
    model = tmp_path / "model"
    shutil.copytree(tiny_bert, model, ignore=shutil.ignore_patterns(".twinbert-compiled"))  # a cold cache
    script = (
        "import multiprocessing, twinbert\n"
        "sent = []\n"
        "try:\n"
        "    from openvino_telemetry.backend import backend_ga4\n"
        "    backend_ga4.GA4Backend.send = lambda self, *a, **k: sent.append(a)  # recorded, never sent\n"
        "except ImportError:\n"
        "    pass\n"
        f"twinbert.load({str(model)!r}, backend='openvino', device='cpu').encode(['a graph is built'])\n"
        "print(len(sent), len(multiprocessing.active_children()))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TF_BUILD", "JENKINS_URL")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[0] == "0 0"  # nothing sent, no child process
    assert list(model.glob(".twinbert-compiled/*/openvino_model.xml"))  # the graph was built here
