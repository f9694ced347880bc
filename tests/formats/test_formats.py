"""Model folders: save/load round trips with sentence-transformers, both pooling schemas, the legacy
0_Transformer/ layout, Dense and Normalize modules, plain checkpoints, name resolution."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import twinbert
from twinbert.errors import ModelLoadError

TEXTS = ["the cat sat on the mat .", "i love paris", "", "a dog is happy"]


def st():
    return pytest.importorskip("sentence_transformers")


def test_plain_checkpoint_gets_mean_pooling(tiny_bert):
    enc = twinbert.load(str(tiny_bert))
    assert enc.pooling.modes == ("mean",) and enc.normalize is None and enc.dimension == 32
    assert twinbert.load(str(tiny_bert), pooling="cls").pooling.modes == ("cls",)


def test_twinbert_save_then_sentence_transformers_load(tiny_bert, tmp_path):
    enc = twinbert.load(str(tiny_bert), pooling="max")
    out = enc.save(tmp_path / "saved")
    pool_cfg = json.loads((out / "1_Pooling" / "config.json").read_text())
    assert pool_cfg["pooling_mode"] == "max" and pool_cfg["pooling_mode_max_tokens"] is True
    assert pool_cfg["pooling_mode_mean_tokens"] is False and pool_cfg["word_embedding_dimension"] == 32
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert not list(tmp_path.glob(".saved.*"))  # no temp folder left behind
    theirs = st().SentenceTransformer(str(out), device="cpu").encode(TEXTS)
    np.testing.assert_allclose(enc.encode(TEXTS), theirs, atol=1e-5)
    np.testing.assert_allclose(twinbert.load(str(out)).encode(TEXTS), theirs, atol=1e-5)


def test_sentence_transformers_save_then_twinbert_load(tiny_bert, tmp_path):
    models = st().models
    transformer = models.Transformer(str(tiny_bert), max_seq_length=48)
    pooling = models.Pooling(32, pooling_mode="cls")
    dense = st().base.modules.Dense(32, 16)
    torch.manual_seed(1)
    model = st().SentenceTransformer(modules=[transformer, pooling, dense, models.Normalize()], device="cpu")
    model.save(str(tmp_path / "st"))
    enc = twinbert.load(str(tmp_path / "st"))
    assert enc.pooling.modes == ("cls",) and len(enc.dense) == 1 and enc.normalize is not None
    assert enc.dimension == 16 and enc.max_seq_length == 48
    np.testing.assert_allclose(enc.encode(TEXTS), model.encode(TEXTS), atol=1e-5)
    # ... and back again: twinbert's save of that model still loads in sentence-transformers
    enc.save(tmp_path / "again")
    again = st().SentenceTransformer(str(tmp_path / "again"), device="cpu")
    np.testing.assert_allclose(again.encode(TEXTS), model.encode(TEXTS), atol=1e-5)


def test_legacy_layout_with_boolean_pooling_flags(tiny_bert, tmp_path):
    """The KR-SBERT style folder: backbone in 0_Transformer/, legacy boolean Pooling flags."""
    root = tmp_path / "legacy"
    shutil.copytree(tiny_bert, root / "0_Transformer")
    (root / "0_Transformer" / "sentence_bert_config.json").write_text('{"max_seq_length": 40, "do_lower_case": false}')
    (root / "1_Pooling").mkdir()
    (root / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": 32, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": False,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": True}))
    (root / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "0_Transformer", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    enc = twinbert.load(str(root))
    assert enc.pooling.modes == ("mean_sqrt_len",) and enc.max_seq_length == 40
    theirs = st().SentenceTransformer(str(root), device="cpu").encode(TEXTS)
    np.testing.assert_allclose(enc.encode(TEXTS), theirs, atol=1e-5)


def test_compact_multi_mode_pooling_is_concatenated(tiny_bert, tmp_path):
    enc = twinbert.load(str(tiny_bert), pooling="cls+mean")
    enc.save(tmp_path / "multi")
    cfg = json.loads((tmp_path / "multi" / "1_Pooling" / "config.json").read_text())
    assert cfg["pooling_mode"] == ["cls", "mean"]
    theirs = st().SentenceTransformer(str(tmp_path / "multi"), device="cpu").encode(TEXTS)
    assert theirs.shape == (4, 64)
    np.testing.assert_allclose(twinbert.load(str(tmp_path / "multi")).encode(TEXTS), theirs, atol=1e-5)


def test_default_model_round_trip(minilm, tmp_path):
    minilm.save(tmp_path / "copy")
    copy = twinbert.load(str(tmp_path / "copy"))
    assert copy.normalize is not None and copy.max_seq_length == 256
    assert json.loads((tmp_path / "copy" / "tokenizer_config.json").read_text())["model_max_length"] == 256
    assert json.loads((tmp_path / "copy" / "sentence_bert_config.json").read_text())["max_seq_length"] == 256
    np.testing.assert_allclose(copy.encode(TEXTS), minilm.encode(TEXTS), atol=1e-6)


def test_save_replaces_existing_folder_atomically(tiny_bert, tmp_path, monkeypatch):
    enc = twinbert.load(str(tiny_bert))
    target = enc.save(tmp_path / "m")
    before = sorted(p.name for p in target.iterdir())

    def boom(*a, **k):
        raise RuntimeError("disk full")
    monkeypatch.setattr(enc.transformer, "save", boom)
    with pytest.raises(RuntimeError):
        enc.save(target)
    assert sorted(p.name for p in target.iterdir()) == before  # the old model is intact
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # and nothing half-written beside it
    twinbert.load(str(target))


@pytest.mark.parametrize("name", ["all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"])
def test_bundled_default_resolves(name, minilm_path):
    from twinbert.formats.resolve import resolve

    assert resolve(name) == minilm_path


def test_unknown_module_type(tiny_bert, tmp_path):
    root = tmp_path / "odd"
    shutil.copytree(tiny_bert, root)
    (root / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_LSTM", "type": "sentence_transformers.models.LSTM"}]))
    with pytest.raises(ModelLoadError, match="module 1 has type 'sentence_transformers.models.LSTM'"):
        twinbert.load(str(root))


def test_tei_readable_pooling_config(minilm, tmp_path):
    """text-embeddings-inference reads the legacy flags (cls / mean / lasttoken) and the backbone at the
    folder root with config.json, tokenizer.json and model.safetensors."""
    out = minilm.save(tmp_path / "tei")
    cfg = json.loads((out / "1_Pooling" / "config.json").read_text())
    assert cfg["pooling_mode_mean_tokens"] is True and cfg["pooling_mode_cls_token"] is False
    assert "pooling_mode_lasttoken" in cfg
    for f in ("config.json", "tokenizer.json", "model.safetensors", "modules.json", "sentence_bert_config.json"):
        assert (Path(out) / f).is_file(), f


def test_clean_stale_leaves_a_live_writers_temps_alone(tmp_path):
    """A writer holds a lock on its temp while it writes (issue 22): a cleaner running meanwhile, in this
    process or another, removes only the temps of dead writers."""
    from twinbert.formats.atomic import atomic_file, atomic_path, clean_stale

    (tmp_path / ".out.txt.0123abcd.tmp").write_text("a killed writer's")
    with atomic_file(tmp_path / "out.txt") as fh:
        fh.write("new")
        with atomic_path(tmp_path / "out.npy") as path:
            np.save(path, np.zeros(2))
            assert clean_stale(tmp_path) == [".out.txt.0123abcd.tmp"]
            assert len(list(tmp_path.glob(".out.*"))) == 2  # the two live temps
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npy", "out.txt"]
    assert (tmp_path / "out.txt").read_text() == "new"


def test_clean_stale_leaves_a_live_model_save_alone(tmp_path):
    """save_model's stage (beside a new folder, or inside the folder of the model it replaces) is held like
    atomic.py's temps: a cleaner running while the model is written leaves it alone (it removed it before)."""
    from twinbert.formats.atomic import clean_stale
    from twinbert.formats.model_folder import save_model

    def write(stage: Path) -> None:
        (stage / "config.json").write_text("{}")
        (stage / "model.safetensors").write_bytes(b"weights")
        assert clean_stale(stage.parent) == [] and stage.is_dir()

    for _ in range(2):  # first into a missing folder, then over the model saved there
        save_model(tmp_path / "m", write)
        assert (tmp_path / "m" / "model.safetensors").read_bytes() == b"weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
