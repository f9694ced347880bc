"""Model folders: a save never destroys what the user had; weights must match their config (nothing
silently random); a broken folder is one ModelLoadError naming the file and the field."""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from conftest import build_tiny_bert

import twinbert
from twinbert.bert import Classifier, load_masked_lm
from twinbert.bert.heads import load_next_sentence
from twinbert.errors import InputError, ModelLoadError, OutputError
from twinbert.modules.dense import Dense
from twinbert.modules.normalize import Normalize
from twinbert.train.loop import TrainConfig
from twinbert.train.output import check_output
from twinbert.train.sentence import TrainSpec, train_sentence_encoder

TEXTS = ["the cat sat on the mat .", "i love paris", "a dog is happy"]


def _copy(folder: Path, dest: Path) -> Path:
    shutil.copytree(folder, dest)
    return dest


def _listing(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


def _edit_weights(folder: Path, change) -> None:
    path = folder / "model.safetensors"
    state = safetensors.torch.load_file(str(path))
    change(state)
    safetensors.torch.save_file(state, str(path), metadata={"format": "pt"})


def _edit_json(path: Path, **fields) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


@pytest.fixture(scope="module")
def heads(tmp_path_factory):
    """Tiny checkpoints of every kind a loader meets: plain with and without pooler, and with heads."""
    root = tmp_path_factory.mktemp("heads")
    return {"plain": build_tiny_bert(root / "plain"), "nopool": build_tiny_bert(root / "nopool", with_pooler=False),
            **{kind: build_tiny_bert(root / kind, head=f"BertFor{kind}")
               for kind in ("MaskedLM", "PreTraining", "SequenceClassification")}}


@pytest.fixture(scope="module")
def st_dense(tiny_bert, tmp_path_factory):
    """A sentence-transformers folder with every module config: Pooling, Dense, Normalize."""
    enc = twinbert.load(tiny_bert, device="cpu")
    enc.dense.append(Dense(32, 16))
    enc.normalize = Normalize()
    return enc.save(tmp_path_factory.mktemp("st") / "model")


# ------------------------------------------------------------------------------------------ saving
def test_save_over_a_model_keeps_the_users_files_and_drops_the_old_models(tiny_bert, tmp_path):
    old = twinbert.load(tiny_bert, device="cpu")
    old.normalize = Normalize()
    out = old.save(tmp_path / "out")
    torch.save({"x": torch.zeros(1)}, out / "pytorch_model.bin")  # an old weights file beside the new one
    (out / "notes.txt").write_text("mine")
    (out / "data").mkdir()
    (out / "data" / "train.tsv").write_text("a\tb\n")
    new = twinbert.load(tiny_bert, device="cpu")
    new.save(out)
    names = {p.name for p in out.iterdir()}
    assert (out / "notes.txt").read_text() == "mine" and (out / "data" / "train.tsv").read_text() == "a\tb\n"
    assert "2_Normalize" not in names and "pytorch_model.bin" not in names  # nothing of the old model lingers
    assert not [n for n in names if n.startswith(".")]  # no temp left
    again = twinbert.load(out, device="cpu")
    assert again.normalize is None
    np.testing.assert_allclose(again.encode(TEXTS), new.encode(TEXTS), atol=1e-6)


def test_save_into_a_folder_of_other_things_needs_overwrite_and_keeps_them(tiny_bert, tmp_path, monkeypatch):
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    (work / "thesis.tex").write_text("chapter 1")
    (work / "src" / "main.py").write_text("print(1)")
    before = _listing(work)
    monkeypatch.chdir(work)
    enc = twinbert.load(tiny_bert, device="cpu")
    with pytest.raises(OutputError) as e:
        enc.save(os.getcwd())
    assert e.value.argument == "overwrite" and "overwrite=True" in str(e.value) and "thesis.tex" in str(e.value)
    assert _listing(work) == before
    enc.save(os.getcwd(), overwrite=True)
    assert (work / "thesis.tex").read_text() == "chapter 1" and (work / "src" / "main.py").is_file()
    np.testing.assert_allclose(twinbert.load(work, device="cpu").encode(TEXTS), enc.encode(TEXTS), atol=1e-6)


@pytest.mark.parametrize("where", ["missing", "empty", "model"])
def test_every_saved_file_gets_the_same_mode(tiny_bert, tmp_path, where):
    """safetensors writes 0600; a model folder is as readable as any other file the user writes."""
    enc = twinbert.load(tiny_bert, device="cpu")
    target = tmp_path / "m"
    if where != "missing":
        target.mkdir()
    if where == "model":
        enc.save(target)
    enc.save(target)
    modes = {p.name: p.stat().st_mode & 0o777 for p in target.rglob("*") if p.is_file()}
    assert set(modes.values()) == {modes["config.json"]}, modes
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_a_failed_replace_puts_the_old_model_back(tiny_bert, tmp_path, monkeypatch):
    enc = twinbert.load(tiny_bert, device="cpu")
    out = enc.save(tmp_path / "m")
    (out / "notes.txt").write_text("mine")
    before = _listing(out)
    rename, calls = os.rename, []

    def flaky(src, dst):  # the third entry moved into `out` fails, once others are in
        if Path(dst).parent == out:
            calls.append(dst)
            if len(calls) == 3:
                raise OSError(28, "No space left on device")
        rename(src, dst)
    from twinbert.formats import model_folder

    monkeypatch.setattr(model_folder.os, "rename", flaky)
    enc.normalize = Normalize()
    with pytest.raises(OutputError, match="No space left on device"):
        enc.save(out)
    assert len(calls) > 3 and _listing(out) == before  # every move undone


def test_head_saves_refuse_other_folders_and_keep_the_users_files(heads, tmp_path):
    clf = Classifier.load(heads["SequenceClassification"], device="cpu")
    mlm = load_masked_lm(heads["MaskedLM"], device="cpu")
    for name, model in [("clf", clf), ("mlm", mlm)]:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "notes.txt").write_text("mine")
        with pytest.raises(OutputError, match="overwrite=True"):
            model.save(folder)
        model.save(folder, overwrite=True)
        model.save(folder)  # now a model: replaced without asking
        assert (folder / "notes.txt").read_text() == "mine" and (folder / "model.safetensors").is_file()
    np.testing.assert_allclose(Classifier.load(tmp_path / "clf", device="cpu").probabilities(TEXTS),
                               clf.probabilities(TEXTS), atol=1e-6)
    load_masked_lm(tmp_path / "mlm", device="cpu")


def test_training_output_rule(tiny_bert, tmp_path):
    model = _copy(tiny_bert, tmp_path / "model")
    with pytest.raises(OutputError) as e:
        check_output(model, resume=False)
    assert e.value.argument == "overwrite" and "already holds a model" in str(e.value)
    assert check_output(model, resume=False, overwrite=True) == model
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "train_log.jsonl").write_text("{}\n")  # a run killed before its first checkpoint
    check_output(tmp_path / "run", resume=False)
    (tmp_path / "run" / "checkpoint").mkdir()
    with pytest.raises(InputError, match="pass resume=True") as e:
        check_output(tmp_path / "run", resume=False, overwrite=True)
    assert e.value.argument == "resume"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "photo.jpg").write_bytes(b"\xff")
    with pytest.raises(OutputError, match="not empty and not a model"):
        check_output(tmp_path / "mine", resume=False)


def test_training_over_a_model_replaces_it_only_with_overwrite(tiny_bert, tmp_path):
    data = tmp_path / "pairs.tsv"
    data.write_text("sentence1\tsentence2\tscore\n" + "the cat sat\ta cat sat\t4.0\ni love paris\tthe dog ran\t1.0\n" * 4)
    old = twinbert.load(tiny_bert, device="cpu")
    old.normalize = Normalize()
    out = old.save(tmp_path / "out")
    (out / "notes.txt").write_text("mine")
    before = _listing(out)
    spec, config = [TrainSpec("sts", "cosine", data=str(data))], TrainConfig(max_steps=1, batch_size=4)
    with pytest.raises(OutputError, match="overwrite=True"):
        train_sentence_encoder(str(tiny_bert), spec, config, out, show_progress=False)
    assert _listing(out) == before
    train_sentence_encoder(str(tiny_bert), spec, config, out, overwrite=True, show_progress=False)
    names = {p.name for p in out.iterdir()}
    assert (out / "notes.txt").read_text() == "mine" and "2_Normalize" not in names
    assert {"train_log.jsonl", "README.md", "modules.json"} <= names
    assert twinbert.load(out, device="cpu").normalize is None


# ---------------------------------------------------------------------------------------- weights
@pytest.mark.parametrize("layers,expected", [
    (4, ["32 tensors the model needs missing", "encoder.layer.2.", "and 29 more"]),
    (1, ["16 tensors not part of the model", "encoder.layer.1."]),
])
def test_config_that_counts_other_layers_than_the_weights(tiny_bert, tmp_path, layers, expected):
    folder = _copy(tiny_bert, tmp_path / "m")
    _edit_json(folder / "config.json", num_hidden_layers=layers)
    with pytest.raises(ModelLoadError) as e:
        twinbert.load(folder, device="cpu")
    message = str(e.value)
    assert message.startswith(f"{folder / 'model.safetensors'}: the weights do not match {folder / 'config.json'}")
    assert all(part in message for part in expected), message


def test_one_tensor_removed_or_reshaped_is_named(tiny_bert, tmp_path):
    gone = _copy(tiny_bert, tmp_path / "gone")
    _edit_weights(gone, lambda s: s.pop("encoder.layer.1.output.dense.weight"))
    with pytest.raises(ModelLoadError, match=r"1 tensor the model needs missing \(encoder.layer.1.output.dense.weight\)"):
        twinbert.load(gone, device="cpu")
    shaped = _copy(tiny_bert, tmp_path / "shaped")
    _edit_weights(shaped, lambda s: s.update({"embeddings.word_embeddings.weight": torch.zeros(50, 16)}))
    with pytest.raises(ModelLoadError, match="embeddings.word_embeddings.weight is 50x16, expected"):
        twinbert.load(shaped, device="cpu")


def test_real_and_tiny_checkpoints_load_clean(heads, minilm_path, caplog):
    """What transformers drops on purpose stays fine: position_ids buffers (all-MiniLM-L6-v2), the tied
    masked-LM decoder bias, another head's tensors, a pooler a head does not use."""
    caplog.set_level(logging.WARNING)
    twinbert.load(minilm_path, device="cpu")
    for kind in ("plain", "nopool", "MaskedLM", "PreTraining", "SequenceClassification"):
        twinbert.load(heads[kind], device="cpu")
    assert load_masked_lm(heads["MaskedLM"], device="cpu").missing_keys == []
    assert load_masked_lm(heads["PreTraining"], device="cpu").missing_keys == []
    assert load_next_sentence(heads["PreTraining"], device="cpu").missing_keys == []
    Classifier.load(heads["SequenceClassification"], device="cpu")
    assert not caplog.records, [r.getMessage()[:200] for r in caplog.records]


def test_a_checkpoint_without_pooler_gets_no_random_one(heads, tmp_path):
    enc = twinbert.load(heads["nopool"], device="cpu")
    assert not enc.transformer.has_pooler
    with safetensors.safe_open(str(enc.save(tmp_path / "copy") / "model.safetensors"), "pt") as f:
        assert not [k for k in f.keys() if "pooler" in k]  # a random pooler is never saved as if trained
    assert not twinbert.load(tmp_path / "copy", device="cpu").transformer.has_pooler


def test_new_heads_are_named_in_one_warning(heads, caplog):
    caplog.set_level(logging.WARNING)
    Classifier.new(heads["nopool"], ["neg", "pos"], device="cpu")
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(records) == 1 and records[0].name == "twinbert", [r.getMessage()[:200] for r in records]
    assert "classifier.weight" in records[0].getMessage() and "pooler" in records[0].getMessage()
    with pytest.raises(ModelLoadError, match="no masked-LM head"):
        load_masked_lm(heads["plain"], device="cpu")


def test_legacy_non_zip_bin_loads(tiny_bert, tmp_path):
    folder = _copy(tiny_bert, tmp_path / "legacy")
    state = safetensors.torch.load_file(str(folder / "model.safetensors"))
    torch.save(state, folder / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    (folder / "model.safetensors").unlink()
    np.testing.assert_allclose(twinbert.load(folder, device="cpu").encode(TEXTS),
                               twinbert.load(tiny_bert, device="cpu").encode(TEXTS), atol=1e-6)


@pytest.mark.parametrize("change,expected", [
    (lambda s: s.pop("linear.bias"), "1 tensor the model needs missing (linear.bias)"),
    (lambda s: s.update({"linear.weight": torch.zeros(16, 8)}), "linear.weight is 16x8, expected 16x32"),
    (lambda s: s.update({"extra": torch.zeros(1)}), "1 tensor not part of the model (extra)"),
])
def test_dense_weights_must_match_their_config(st_dense, tmp_path, change, expected):
    folder = _copy(st_dense, tmp_path / "m")
    _edit_weights(folder / "2_Dense", change)
    with pytest.raises(ModelLoadError) as e:
        twinbert.load(folder, device="cpu")
    assert str(e.value).startswith(str(folder / "2_Dense" / "model.safetensors") + ":") and expected in str(e.value)


# ---------------------------------------------------------------------------------- broken folders
@pytest.mark.parametrize("name", ["config.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json",
                                  "sentence_bert_config.json", "config_sentence_transformers.json", "modules.json",
                                  "1_Pooling/config.json", "2_Dense/config.json"])
def test_invalid_json_in_any_config_file_names_it(st_dense, tmp_path, name):
    folder = _copy(st_dense, tmp_path / "m")
    (folder / name).write_text('{"oops": ')
    with pytest.raises(ModelLoadError) as e:
        twinbert.load(folder, device="cpu")
    assert str(e.value).startswith(f"{folder / name}: unreadable JSON (") and "line 1 column" in str(e.value)


@pytest.mark.parametrize("name,fields,expected", [
    ("sentence_bert_config.json", {"max_seq_length": -5}, "field 'max_seq_length' is -5; expected a positive"),
    ("sentence_bert_config.json", {"do_lower_case": "yes"}, "field 'do_lower_case' is \"yes\"; expected true or false"),
    ("config.json", {"num_hidden_layers": "two"}, "field 'num_hidden_layers' is \"two\""),
    ("2_Dense/config.json", {"in_features": "abc"}, "field 'in_features' is \"abc\"; expected a positive whole"),
    ("2_Dense/config.json", {"activation_function": "os.system"}, "field 'activation_function' is 'os.system'"),
    ("1_Pooling/config.json", {"word_embedding_dimension": 64}, "field 'word_embedding_dimension' is 64, but the "
                                                                "Transformer's hidden_size is 32"),
    ("1_Pooling/config.json", {"pooling_mode": 5}, "field 'pooling_mode' is 5"),
    ("config_sentence_transformers.json", {"similarity_fn_name": "cosinus"}, "field 'similarity_fn_name' is 'cosinus'"),
    ("config_sentence_transformers.json", {"prompts": ["query: "]}, "field 'prompts' is"),
])
def test_nonsense_values_name_the_file_and_field(st_dense, tmp_path, name, fields, expected):
    folder = _copy(st_dense, tmp_path / "m")
    _edit_json(folder / name, **fields)
    with pytest.raises(ModelLoadError) as e:
        twinbert.load(folder, device="cpu")
    assert str(e.value).startswith(f"{folder / name}: ") and expected in str(e.value), str(e.value)


def test_dense_in_features_must_fit_the_pooling(st_dense, tmp_path):
    folder = _copy(st_dense, tmp_path / "m")
    _edit_json(folder / "2_Dense" / "config.json", in_features=64)  # weights and config agree, pooling does not
    safetensors.torch.save_file({k: v.contiguous() for k, v in Dense(64, 16).state_dict().items()},
                                str(folder / "2_Dense" / "model.safetensors"))
    with pytest.raises(ModelLoadError, match="field 'in_features' is 64, but the Pooling module gives 32-dim"):
        twinbert.load(folder, device="cpu")


@pytest.mark.parametrize("module", ["1_Pooling", "2_Dense"])
def test_missing_module_folder_is_reported_missing(st_dense, tmp_path, module):
    folder = _copy(st_dense, tmp_path / "m")
    shutil.rmtree(folder / module)
    with pytest.raises(ModelLoadError) as e:
        twinbert.load(folder, device="cpu")
    assert str(e.value).startswith(f"{folder / module}: the ") and "listed in modules.json" in str(e.value)
    assert "missing" in str(e.value) and "JSON" not in str(e.value)
