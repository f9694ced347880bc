"""Plain Hugging Face checkpoints: config.json + weights (safetensors, or .bin loaded safely) + tokenizer.

This is the one place that turns a folder into a `transformers` backbone and a tokenizer. It checks
what transformers would otherwise report late, vaguely or not at all: broken JSON, nonsense config
values, corrupt weights, weights that do not fit the config (transformers fills the gaps with random
values and goes on), a missing tokenizer, a vocabulary larger than the embedding matrix.
"""
from __future__ import annotations

import contextlib
import json
import zipfile
from pathlib import Path

import torch

from ..errors import ModelLoadError

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
# config.json sizes that must be whole numbers >= 1 when present (transformers fails on them late and vaguely)
CONFIG_SIZES = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size",
                "max_position_embeddings")


@contextlib.contextmanager
def no_progress_bars():
    """Silence transformers' per-tensor progress bars (noise for a local load or save) and its load
    report: check_loading decides what a missing or extra tensor means, and says it once."""
    from transformers.utils import logging as tf_logging

    enabled = tf_logging.is_progress_bar_enabled()
    verbosity = tf_logging.get_verbosity()
    tf_logging.disable_progress_bar()
    tf_logging.set_verbosity_error()
    try:
        yield
    finally:
        tf_logging.set_verbosity(verbosity)
        if enabled:
            tf_logging.enable_progress_bar()


# ------------------------------------------------------------------------------------- config files
def read_json(path: Path):
    """The one JSON reader of model folders: a missing, unreadable or invalid file is a ModelLoadError
    naming it (and the line and column of a syntax error)."""
    if not path.is_file():
        raise ModelLoadError(f"{path}: missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ModelLoadError(f"{path}: unreadable JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except (OSError, ValueError) as e:  # unreadable, or not UTF-8
        raise ModelLoadError(f"{path}: unreadable JSON ({e})") from None


def check_json_files(folder: Path) -> None:
    """Parse every .json file of a checkpoint folder before transformers reads them, so a broken one
    is named (transformers reports a bare JSONDecodeError, or nothing)."""
    for path in sorted(folder.glob("*.json")):
        read_json(path)


_KINDS = {"positive": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
                       "a positive whole number"),
          "bool": (lambda v: isinstance(v, bool), "true or false"),
          "str": (lambda v: isinstance(v, str), "a string"),
          "dict": (lambda v: isinstance(v, dict), "an object")}


def field(config: dict, name: str, path: Path, kind: str, default=None):
    """config[name] checked against `kind` ("positive", "bool", "str" or "dict"); absent or null gives
    `default`. A wrong value is a ModelLoadError naming the file, the field and what is accepted."""
    value = config.get(name)
    if value is None:
        return default
    check, expected = _KINDS[kind]
    if not check(value):
        raise ModelLoadError(f"{path}: field {name!r} is {json.dumps(value)[:40]}; expected {expected}")
    return value


def read_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        raise ModelLoadError(f"{folder}: no config.json; a model folder needs config.json and "
                             "model.safetensors (or pytorch_model.bin)")
    config = read_json(path)
    if not isinstance(config, dict):
        raise ModelLoadError(f"{path}: expected an object of settings, got {type(config).__name__}")
    for name in CONFIG_SIZES:
        field(config, name, path, "positive")
    return config


# ------------------------------------------------------------------------------------------ weights
def weights_file(folder: Path) -> Path:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise ModelLoadError(f"{folder}: no model weights (expected one of {', '.join(WEIGHT_FILES)})")


def read_weights(file: Path) -> dict:
    """A state dict from a .safetensors or a .bin file (weights only, never code; the old non-zip .bin
    format too, which cannot be memory-mapped); a corrupt or truncated file is a ModelLoadError."""
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file
            return load_file(str(file))
        return torch.load(file, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(file))
    except Exception as e:  # safetensors / pickle raise many types; all mean the same to the user
        raise ModelLoadError(f"{file}: corrupt or truncated weights ({type(e).__name__}: {e})") from e


def check_weights(path: Path) -> None:
    """Open the weights header (safetensors) or load them with weights_only=True (.bin) to fail early
    and clearly on a corrupt or truncated file."""
    files = [path]
    if path.name.endswith(".index.json"):
        index = read_json(path)
        if not isinstance(index, dict) or not isinstance(index.get("weight_map"), dict):
            raise ModelLoadError(f"{path}: field 'weight_map' is missing; expected an object of tensor -> file")
        files = sorted({path.parent / str(f) for f in index["weight_map"].values()})
    for file in files:
        if not file.is_file():
            raise ModelLoadError(f"{file}: weight shard listed in {path.name} is missing")
        if file.suffix != ".safetensors":
            read_weights(file)
            continue
        try:
            from safetensors import safe_open
            with safe_open(str(file), framework="pt"):  # validates the header against the file size
                pass
        except Exception as e:
            raise ModelLoadError(f"{file}: corrupt or truncated weights ({type(e).__name__}: {e})") from e


def _count(n: int) -> str:
    return "1 tensor" if n == 1 else f"{n} tensors"


def _listed(names, limit: int = 3) -> str:
    names = sorted(names)
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def mismatch_error(file: Path, config: Path, missing=(), unexpected=(), mismatched=()) -> ModelLoadError:
    """The one message for weights that do not fit the model their config describes: which tensors
    (the first few, and how many), in which file. mismatched: (name, shape in the file, shape expected)."""
    parts = []
    if missing:
        parts.append(f"{_count(len(missing))} the model needs missing ({_listed(missing)})")
    if unexpected:
        parts.append(f"{_count(len(unexpected))} not part of the model ({_listed(unexpected)})")
    if mismatched:
        shown = [f"{name} is {'x'.join(map(str, got))}, expected {'x'.join(map(str, want))}"
                 for name, got, want in mismatched]
        parts.append(f"{_count(len(mismatched))} of another shape ({_listed(shown)})")
    return ModelLoadError(f"{file}: the weights do not match {config}: " + "; ".join(parts)
                          + " (loading anyway would leave the model partly random)")


def check_loading(model, info: dict, file: Path, config: Path) -> list[str]:
    """The one rule for what a checkpoint may lack or add, given transformers' loading info.

    An error: a missing tensor of the backbone (its pooler aside), a tensor of another shape, or a
    tensor in the file for a part of the backbone that was built (e.g. a layer config.json does not
    count). Fine: tensors of parts not built (another head; a pooler a masked-LM does not use) and
    buffers (old checkpoints' position_ids). Returns the missing tensors of the head and the pooler:
    whether those may be new is the caller's decision. A bare backbone whose file has no pooler
    drops its pooler rather than keep a random one."""
    base = getattr(model, "base_model", model)
    prefix = "" if base is model else model.base_model_prefix + "."
    built = {name for name, _ in base.named_children()}
    buffers = {name for name, _ in base.named_buffers()}

    def inside(key: str) -> str | None:  # the key relative to the backbone; None: not a backbone tensor
        if prefix and key.startswith(prefix):
            key = key[len(prefix):]
        return key if key.split(".")[0] in built else None

    missing, head = [], []
    for key in info.get("missing_keys") or ():
        inner = inside(key)
        (head if inner is None or inner.startswith("pooler.") else missing).append(key)
    unexpected = [k for k in info.get("unexpected_keys") or () if inside(k) not in (None, *buffers)]
    mismatched = list(info.get("mismatched_keys") or ())
    if missing or unexpected or mismatched:
        raise mismatch_error(file, config, missing, unexpected, mismatched)
    if head and not prefix:
        if getattr(model, "pooler", None) is None:
            raise mismatch_error(file, config, missing=head)
        model.pooler = None  # has_pooler is then False, and a later save leaves it out
        return []
    return head


# -------------------------------------------------------------------------------- tokenizer, model
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
    """Load (model, tokenizer, missing head tensors) from a checkpoint folder.

    head=None loads the bare encoder (AutoModel); otherwise the name of a transformers Auto class
    such as "AutoModelForMaskedLM", and the tensors of that head (and of the pooler) the checkpoint
    lacks are returned, for the caller to refuse or to announce as new. Any other tensor missing,
    left over or of another shape is a ModelLoadError (see check_loading). config_overrides: config
    fields set before the model is built (e.g. num_labels, id2label and label2id of a new
    classification head). Never runs remote code unless trust_remote_code=True.
    """
    import transformers

    config = read_config(folder)
    if "model_type" not in config:
        raise ModelLoadError(f"{folder / 'config.json'}: field 'model_type' is missing")
    check_json_files(folder)
    weights = weights_file(folder)
    check_weights(weights)
    tokenizer = load_tokenizer(folder)
    auto = getattr(transformers, head or "AutoModel")
    try:
        with no_progress_bars():
            model, info = auto.from_pretrained(
                str(folder), dtype=dtype, trust_remote_code=trust_remote_code,
                use_safetensors=weights.name.startswith("model.safetensors"), output_loading_info=True,
                ignore_mismatched_sizes=True,  # reported by check_loading, naming the tensors
                **(config_overrides or {}))
    except Exception as e:
        raise ModelLoadError(f"{folder}: transformers cannot build the model ({type(e).__name__}: {e})") from e
    if info.get("error_msgs"):
        raise ModelLoadError(f"{weights}: cannot load the weights ({'; '.join(map(str, info['error_msgs']))})")
    new_head = check_loading(model, info, weights, folder / "config.json")
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:
        raise ModelLoadError(f"{folder}: the tokenizer has {len(tokenizer)} tokens but the embedding matrix "
                             f"has {rows} rows; the tokenizer does not belong to these weights")
    model.eval()
    return model, tokenizer, new_head
