"""The encoder as a pipeline of modules: each module's contract (config, built from its folder, saves
itself), the ordered list saved as modules.json, one pool-and-project path for training and inference,
and the encode options as one frozen record."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

import twinbert
from twinbert.batching import padded
from twinbert.encode_options import EncodeOptions
from twinbert.errors import ModelLoadError
from twinbert.modules.dense import Dense
from twinbert.modules.normalize import Normalize
from twinbert.modules.pooling import Pooling

TEXTS = ["the cat sat on the mat .", "i love paris", "", "a dog ran in the park and it is very happy !"]


@pytest.fixture
def full(tiny_bert):
    """Transformer -> Pooling -> Dense -> Normalize on the tiny BERT."""
    torch.manual_seed(0)
    enc = twinbert.load(tiny_bert, device="cpu")
    enc.dense.append(Dense(32, 16))
    enc.normalize = Normalize()
    return enc


@pytest.mark.parametrize("module", [
    Pooling(("cls", "mean"), 32), Pooling("max", 32, include_prompt=False),
    Dense(32, 16, activation="torch.nn.modules.linear.Identity"), Normalize()], ids=lambda m: m.kind)
def test_every_module_saves_itself_and_loads_from_its_folder(module, tmp_path):
    module.save(tmp_path)
    again = type(module).load(tmp_path)
    assert again.config() == module.config()
    for name, tensor in module.state_dict().items():
        torch.testing.assert_close(again.state_dict()[name], tensor)
    if module.kind == "Pooling":
        assert Pooling.from_config(json.loads((tmp_path / "config.json").read_text()), "x").config() == module.config()
    features = {"sentence_embedding": torch.randn(3, 32), "token_embeddings": torch.randn(3, 5, 32),
                "attention_mask": torch.ones(3, 5, dtype=torch.long)}
    out = again(dict(features))  # every module: features dict in, features dict out
    assert out["sentence_embedding"].shape[0] == 3


def test_the_pipeline_is_saved_in_order_and_loaded_back(full, tmp_path):
    assert [m.kind for m in full.pipeline] == ["Transformer", "Pooling", "Dense", "Normalize"]
    out = full.save(tmp_path / "m")
    modules = json.loads((out / "modules.json").read_text())
    assert [(m["path"], m["type"].rsplit(".", 1)[1]) for m in modules] == [
        ("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Dense", "Dense"), ("3_Normalize", "Normalize")]
    assert not list((out / "3_Normalize").iterdir())  # Normalize has nothing to write
    again = twinbert.load(out, device="cpu")
    assert [m.kind for m in again.pipeline] == ["Transformer", "Pooling", "Dense", "Normalize"]
    np.testing.assert_allclose(again.encode(TEXTS), full.encode(TEXTS), atol=1e-6)


def test_training_forward_and_encode_run_the_same_modules(full, monkeypatch):
    calls = []
    forward = Normalize.forward
    monkeypatch.setattr(Normalize, "forward", lambda self, features: calls.append(1) or forward(self, features))
    tokens = full.transformer.tokenize(TEXTS)
    ids, mask, types = padded(tokens.input_ids, tokens.token_type_ids, np.arange(len(TEXTS)), full.transformer.pad_id)
    with torch.no_grad():
        trained = full(ids, mask, types).numpy()
    assert calls  # the Normalize module itself runs, not a copy of its maths
    calls.clear()
    np.testing.assert_allclose(full.encode(TEXTS), trained, atol=1e-6)
    assert calls
    np.testing.assert_allclose(np.linalg.norm(trained, axis=1), 1.0, atol=1e-6)


def test_a_folder_whose_modules_are_out_of_order_is_refused(full, tmp_path):
    out = full.save(tmp_path / "m")
    modules = json.loads((out / "modules.json").read_text())
    modules[2], modules[3] = modules[3], modules[2]  # Normalize before Dense: twinbert would run them otherwise
    (out / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ModelLoadError, match=r"modules.json: module 3 \(Dense\) is out of order"):
        twinbert.load(out, device="cpu")


def test_encode_options_are_one_frozen_record(full):
    options = full.options(pooling="cls+max", layers="first-last", normalize=False, apply_dense=False)
    assert isinstance(options, EncodeOptions)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.normalize = True
    assert options.to_dict() == {
        "pooling": "cls+max", "layers": "first-last", "hidden_states": [1, 2], "normalize": False,
        "output": "sentence", "batch_tokens": 2048, "precision": None, "prompt_name": None, "prompt": None,
        "apply_dense": False, "truncate_dim": None, "output_dtype": "float32"}
    plain = full.options(apply_dense=False)
    chunks = list(full.encode_stream(iter(TEXTS), chunk_rows=3, show_progress=False, options=plain))
    np.testing.assert_allclose(np.concatenate(chunks), full.run(TEXTS, plain), atol=1e-6)
    assert chunks[0].shape == (3, 32)  # the pooled backbone states: the Dense module left out
    settings = full.settings(plain)
    assert settings["dense"] == [] and settings["dimension"] == 32 and settings["normalize"] is True
    assert full.settings()["dense"] == [full.dense[0].config()] and full.settings()["dimension"] == 16
