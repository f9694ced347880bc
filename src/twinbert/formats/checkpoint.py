"""Plain Hugging Face checkpoints: config.json + weights (safetensors, or .bin loaded safely) + tokenizer.

This is the one place that turns a folder into a `transformers` backbone and a tokenizer. It checks
what transformers would otherwise report late or not at all: corrupt weights, a missing tokenizer,
a vocabulary larger than the embedding matrix.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

import torch

from ..errors import ModelLoadError

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


@contextlib.contextmanager
def no_progress_bars():
    """Silence transformers' per-tensor progress bars (noise for a local load or save)."""
    from transformers.utils import logging as tf_logging

    enabled = tf_logging.is_progress_bar_enabled()
    tf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            tf_logging.enable_progress_bar()


def weights_file(folder: Path) -> Path:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise ModelLoadError(f"{folder}: no model weights (expected one of {', '.join(WEIGHT_FILES)})")


def check_weights(path: Path) -> None:
    """Open the weights header (safetensors) or load them with weights_only=True (.bin) to fail early
    and clearly on a corrupt or truncated file."""
    files = [path]
    if path.name.endswith(".index.json"):
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
            files = sorted({path.parent / f for f in index["weight_map"].values()})
        except (OSError, ValueError, KeyError) as e:
            raise ModelLoadError(f"{path}: unreadable shard index ({e})") from e
    for file in files:
        if not file.is_file():
            raise ModelLoadError(f"{file}: weight shard listed in {path.name} is missing")
        try:
            if file.suffix == ".safetensors":
                from safetensors import safe_open
                with safe_open(str(file), framework="pt"):  # validates the header against the file size
                    pass
            else:
                torch.load(file, map_location="cpu", weights_only=True, mmap=True)
        except Exception as e:  # safetensors / pickle raise many types; all mean the same to the user
            raise ModelLoadError(f"{file}: corrupt or truncated weights ({type(e).__name__}: {e})") from e


def read_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        raise ModelLoadError(f"{folder}: no config.json; a model folder needs config.json and "
                             "model.safetensors (or pytorch_model.bin)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"{path}: not valid JSON ({e})") from e


def load_tokenizer(folder: Path):
    from transformers import AutoTokenizer

    if not any((folder / f).is_file() for f in ("tokenizer.json", "vocab.txt", "sentencepiece.bpe.model",
                                               "spiece.model", "vocab.json")):
        raise ModelLoadError(f"{folder}: no tokenizer (expected tokenizer.json, or vocab.txt for BERT-style models)")
    try:
        return AutoTokenizer.from_pretrained(str(folder))
    except Exception as e:
        raise ModelLoadError(f"{folder}: cannot load the tokenizer ({type(e).__name__}: {e})") from e


def load_backbone(folder: Path, *, head: str | None = None, dtype: torch.dtype = torch.float32,
                  trust_remote_code: bool = False, config_overrides: dict | None = None):
    """Load (model, tokenizer, missing_keys) from a checkpoint folder.

    head=None loads the bare encoder (AutoModel); otherwise the name of a transformers Auto class
    such as "AutoModelForMaskedLM". config_overrides: config fields set before the model is built
    (e.g. num_labels, id2label and label2id of a new classification head). Never runs remote code
    unless trust_remote_code=True.
    """
    import transformers

    config = read_config(folder)
    if "model_type" not in config:
        raise ModelLoadError(f"{folder / 'config.json'}: field 'model_type' is missing")
    weights = weights_file(folder)
    check_weights(weights)
    tokenizer = load_tokenizer(folder)
    auto = getattr(transformers, head or "AutoModel")
    try:
        with no_progress_bars():
            model, info = auto.from_pretrained(
                str(folder), dtype=dtype, trust_remote_code=trust_remote_code,
                use_safetensors=weights.name.startswith("model.safetensors"), output_loading_info=True,
                **(config_overrides or {}))
    except Exception as e:
        raise ModelLoadError(f"{folder}: transformers cannot build the model ({type(e).__name__}: {e})") from e
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:
        raise ModelLoadError(f"{folder}: the tokenizer has {len(tokenizer)} tokens but the embedding matrix "
                             f"has {rows} rows; the tokenizer does not belong to these weights")
    model.eval()
    return model, tokenizer, list(info.get("missing_keys", []))
