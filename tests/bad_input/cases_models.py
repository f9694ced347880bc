"""Bad input for model folders: an output that holds a model (or the user's files), weights that do not
match their config, broken JSON and nonsense values in a model folder."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from bad_input.cases import Case
from twinbert.runtime.cache import FOLDER as CACHE_FOLDER

STS = "sentence1\tsentence2\tscore\n" + "the cat sat\ta cat sat\t4.0\ni love paris\tthe dog ran\t1.0\n" * 4
LABELLED = "text\tlabel\n" + "the cat sat\tpos\nbad food\tneg\n" * 4


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


def build(root: Path, tiny: Path) -> None:
    import safetensors.torch

    m = root / "models"
    m.mkdir()
    (m / "pairs.tsv").write_text(STS, encoding="utf-8")
    (m / "labelled.tsv").write_text(LABELLED, encoding="utf-8")
    (m / "texts.txt").write_text("the cat sat on the mat\ni love paris\n", encoding="utf-8")
    shutil.copytree(tiny, m / "finished")  # a finished model, as a trainer's output
    (m / "finished" / "notes.txt").write_text("mine", encoding="utf-8")
    (m / "finished.json").write_text(json.dumps({k: None if v is None else v.hex() for k, v in _snapshot(m / "finished").items()}))
    shutil.copytree(tiny, m / "replace-me")
    (m / "replace-me" / "notes.txt").write_text("mine", encoding="utf-8")
    (m / "replace-me" / "2_Normalize").mkdir()  # a module of the old model the new one lacks
    (m / "user-folder").mkdir()
    (m / "user-folder" / "thesis.tex").write_text("chapter 1", encoding="utf-8")

    shutil.copytree(tiny, m / "one-missing")  # model.safetensors with one tensor removed
    state = safetensors.torch.load_file(str(m / "one-missing" / "model.safetensors"))
    del state["encoder.layer.0.attention.self.query.weight"]
    safetensors.torch.save_file(state, str(m / "one-missing" / "model.safetensors"), metadata={"format": "pt"})
    shutil.copytree(tiny, m / "twelve-layers")  # config.json counts more layers than the weights hold
    config = json.loads((tiny / "config.json").read_text())
    (m / "twelve-layers" / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 12}))
    shutil.copytree(tiny, m / "bad-tokenizer-config")
    (m / "bad-tokenizer-config" / "tokenizer_config.json").write_text('{"do_lower_case": tru')
    shutil.copytree(tiny, m / "bad-max-length")
    (m / "bad-max-length" / "sentence_bert_config.json").write_text('{"max_seq_length": -5}')
    shutil.copytree(tiny, m / "no-pooling-folder")
    (m / "no-pooling-folder" / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))


def _unchanged(root: Path) -> None:
    m = root / "models"
    saved = json.loads((m / "finished.json").read_text())
    assert {k: None if v is None else v.hex() for k, v in _snapshot(m / "finished").items()} == saved


def _user_files_kept(name: str, present=(), absent=()):
    def check(root: Path) -> None:
        folder = root / "models" / name
        assert all((folder / p).exists() for p in present) and not any((folder / p).exists() for p in absent)
        # no temp files left behind (the runtime's compiled-graph cache is twinbert's own, kept on purpose)
        assert not [p for p in folder.iterdir() if p.name.startswith(".") and p.name != CACHE_FOLDER]
    return check


M = "{root}/models"
PAIRS = ("--model", "{tiny}", "--task", "sts", "--data", f"{M}/pairs.tsv", "--loss", "cosine")
STEP = ("--max-steps", "1", "--batch-size", "4", "--no-progress")

CASES = [
    Case("train-output-holds-model", "train --output a folder holding a model",
         ("train", *PAIRS, *STEP, "--output", f"{M}/finished"), 2,
         "already holds a model; pass --overwrite to replace it", _unchanged),
    Case("classify-output-holds-model", "classify train --output a folder holding a model",
         ("classify", "train", "--model", "{tiny}", "--task", f"{M}/labelled.tsv", *STEP, "--output", f"{M}/finished"),
         2, "already holds a model; pass --overwrite", _unchanged),
    Case("cross-encoder-output-holds-model", "cross-encoder train --output a folder holding a model",
         ("cross-encoder", "train", "--model", "{tiny}", "--task", f"{M}/pairs.tsv", *STEP,
          "--output", f"{M}/finished"), 2, "already holds a model; pass --overwrite", _unchanged),
    Case("mlm-output-holds-model", "mlm train --output a folder holding a model",
         ("mlm", "train", "--model", "{tiny}", "--data", f"{M}/texts.txt", *STEP, "--output", f"{M}/finished"),
         2, "already holds a model; pass --overwrite", _unchanged),
    Case("train-output-user-folder", "train --output a folder of the user's own files",
         ("train", *PAIRS, *STEP, "--output", f"{M}/user-folder"), 2,
         "not empty and not a model (it holds thesis.tex); pass --overwrite",
         _user_files_kept("user-folder", present=["thesis.tex"], absent=["train_log.jsonl", "config.json"])),
    Case("train-overwrite-model", "train --overwrite over a model: replaced, the user's files kept",
         ("train", *PAIRS, *STEP, "--output", f"{M}/replace-me", "--overwrite"), 0, "",
         _user_files_kept("replace-me", present=["notes.txt", "modules.json", "model.safetensors"],
                          absent=["2_Normalize"])),
    Case("info-tensor-missing", "info on a checkpoint with one tensor removed", ("info", f"{M}/one-missing"), 2,
         "1 tensor the model needs missing (encoder.layer.0.attention.self.query.weight)"),
    Case("info-config-more-layers", "info on a checkpoint whose config.json counts 12 layers, the weights 2",
         ("info", f"{M}/twelve-layers"), 2, "160 tensors the model needs missing (encoder.layer.10."),
    Case("encode-broken-tokenizer-config", "a model whose tokenizer_config.json is not valid JSON",
         ("encode", "--model", f"{M}/bad-tokenizer-config", "--input", f"{M}/texts.txt", "--output", f"{M}/out.npy"),
         2, "tokenizer_config.json: unreadable JSON (Expecting value at line 1 column 19)",
         _user_files_kept(".", absent=["out.npy"])),
    Case("info-negative-max-seq-length", "sentence_bert_config.json with max_seq_length -5",
         ("info", f"{M}/bad-max-length"), 2,
         "sentence_bert_config.json: field 'max_seq_length' is -5; expected a positive whole number"),
    Case("info-module-folder-missing", "modules.json lists a 1_Pooling/ folder that is not there",
         ("info", f"{M}/no-pooling-folder"), 2, "1_Pooling: the Pooling module folder listed in modules.json "
                                                "(module 1) is missing"),
]
