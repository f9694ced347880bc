"""The sentence-transformers folder format: modules.json listing the modules in order, each in its own
folder with its own config, and config_sentence_transformers.json (prompts, similarity).

Read: both Pooling schemas, the legacy layout with the backbone in 0_Transformer/, Dense, Normalize; each
module is built by the loader the caller gives for its type (the modules know their own files; this file
knows the folder). A folder without modules.json is a plain checkpoint: the backbone alone.
Write: a folder that sentence-transformers 6.x (transformers 5) and 5.x (transformers 4.57), transformers.js
and text-embeddings-inference can all load (the tokenizer through `write_tokenizer`, the one place that
writes tokenizer_config.json).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError
from .checkpoint import field as check_field
from .checkpoint import read_json

# the order twinbert runs modules in, which a folder must follow (sentence-transformers would run any order)
ORDER = ("Transformer", "Pooling", "Dense", "Normalize")


@dataclass
class FolderSpec:
    """What a model folder holds: its modules (built, in order) and its settings."""
    modules: list = field(default_factory=list)
    similarity: str = "cosine"
    prompts: dict = field(default_factory=dict)
    default_prompt_name: str | None = None


def write_json(path: Path, data) -> None:
    """The one JSON writer of model folders (indented, UTF-8 kept readable, a final newline)."""
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# tokenizer classes that only transformers 5 knows (its generic tokenizers-backed class, under the names
# 5.x saves it with), and the name that both 4.x and 5.x read as that same class
GENERIC_TOKENIZER = "PreTrainedTokenizerFast"
V5_ONLY_TOKENIZERS = {"TokenizersBackend"}


def write_tokenizer(tokenizer, folder: Path, max_seq_length: int) -> None:
    """The one tokenizer writer of model folders: `tokenizer` saved into `folder` so that
    transformers 4.x and 5.x (sentence-transformers 5 and 6), transformers.js and text-embeddings-
    inference all load it, with `max_seq_length` as its inference length.

    transformers 5 names its generic tokenizer class "TokenizersBackend", which transformers 4.57 refuses
    ("Unrecognized processing class"); "PreTrainedTokenizerFast" is that same class in 5.x and the
    tokenizer.json-backed class in 4.x, so both build the same tokenizer from tokenizer.json. The
    tokenizer.json itself keeps no padding and truncates at max_seq_length (the fast backend is the one
    twinbert tokenizes with, and it last truncated at whatever length it was asked for)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        backend.no_padding()
        backend.enable_truncation(max_seq_length)
    tokenizer.model_max_length = max_seq_length  # where sentence-transformers 6 reads the length
    tokenizer.save_pretrained(str(folder))
    path = folder / "tokenizer_config.json"
    config = read_json(path)
    if not isinstance(config, dict):
        return
    if config.get("tokenizer_class") in V5_ONLY_TOKENIZERS:
        config["tokenizer_class"] = GENERIC_TOKENIZER
    # how this copy was loaded (and the truncation length it last ran at), not what the tokenizer is
    for stale in ("max_length", "is_local", "local_files_only"):
        config.pop(stale, None)
    write_json(path, config)


def _module_folder(folder: Path, m: dict, i: int, kind: str) -> Path:
    path = m.get("path", "")
    if not isinstance(path, str):
        raise ModelLoadError(f"{folder / 'modules.json'}: module {i} has path {path!r}; expected a folder name")
    sub = folder / path
    if not sub.is_dir():
        raise ModelLoadError(f"{sub}: the {kind} module folder listed in modules.json (module {i}) is missing")
    return sub


def _settings(path: Path) -> dict:
    config = read_json(path)
    if not isinstance(config, dict):
        raise ModelLoadError(f"{path}: expected an object of settings, got {type(config).__name__}")
    return config


def list_modules(folder: Path) -> list[tuple[str, Path]]:
    """(type, folder) of every module in modules.json, checked: known types, folders that exist, and
    twinbert's order (Transformer, Pooling, Dense ..., Normalize; each but Dense at most once). Without
    modules.json: the folder itself as the Transformer."""
    if not (folder / "modules.json").is_file():
        return [("Transformer", folder)]
    modules = read_json(folder / "modules.json")
    if not isinstance(modules, list):
        raise ModelLoadError(f"{folder / 'modules.json'}: expected a list of modules")
    listed, rank = [], -1
    for i, m in enumerate(modules):
        if not isinstance(m, dict):
            raise ModelLoadError(f"{folder / 'modules.json'}: module {i} is {type(m).__name__}, expected an "
                                 "object with 'type' and 'path'")
        kind = str(m.get("type", "")).rsplit(".", 1)[-1]
        if kind not in ORDER:
            raise ModelLoadError(f"{folder / 'modules.json'}: module {i} has type {m.get('type')!r}; "
                                 "twinbert reads Transformer, Pooling, Dense and Normalize")
        if ORDER.index(kind) < rank or (ORDER.index(kind) == rank and kind != "Dense"):
            raise ModelLoadError(f"{folder / 'modules.json'}: module {i} ({kind}) is out of order; twinbert "
                                 "runs Transformer, Pooling, Dense ..., Normalize, in that order, once each "
                                 "(Dense any number of times)")
        rank = ORDER.index(kind)
        # Normalize has no files; sentence-transformers may not even create its folder
        listed.append((kind, folder if kind == "Normalize" else _module_folder(folder, m, i, kind)))
    if not listed or listed[0][0] != "Transformer":
        listed.insert(0, ("Transformer", folder))  # the backbone at the folder's root
    return listed


def backbone_folder(folder: Path) -> Path:
    """The folder of the Transformer module (the backbone's Hugging Face checkpoint): what the BERT heads
    load from a sentence-transformers folder."""
    return list_modules(folder)[0][1]


def read_folder(folder: Path, loaders: dict[str, Callable[[Path], Any]]) -> FolderSpec:
    """The modules of a folder, each built by ``loaders[type](its folder)``, and the folder's settings;
    every broken file or value is a ModelLoadError naming the file and the field. The small modules are
    read before the (slow) backbone, so a broken config fails fast."""
    listed = list_modules(folder)
    spec = read_settings(folder)
    built = {i: loaders[kind](path) for i, (kind, path) in enumerate(listed) if kind != "Transformer"}
    built[0] = loaders["Transformer"](listed[0][1])
    spec.modules = [built[i] for i in range(len(listed))]
    check_widths(spec.modules, [path for _, path in listed])
    return spec


def read_settings(folder: Path) -> FolderSpec:
    """config_sentence_transformers.json: similarity, prompts and the default prompt (all optional)."""
    from ..similarity import METRICS

    spec = FolderSpec()
    path = folder / "config_sentence_transformers.json"
    if not path.is_file():
        return spec
    cfg = _settings(path)
    spec.similarity = check_field(cfg, "similarity_fn_name", path, "str", "cosine")
    if spec.similarity not in METRICS:
        raise ModelLoadError(f"{path}: field 'similarity_fn_name' is {spec.similarity!r}; expected one of "
                             + ", ".join(METRICS))
    spec.prompts = check_field(cfg, "prompts", path, "dict", {})
    for name, prompt in spec.prompts.items():
        if not isinstance(prompt, str):
            raise ModelLoadError(f"{path}: field 'prompts' maps {name!r} to {prompt!r}; expected a text")
    spec.default_prompt_name = check_field(cfg, "default_prompt_name", path, "str")
    if spec.default_prompt_name is not None and spec.default_prompt_name not in spec.prompts:
        raise ModelLoadError(f"{path}: field 'default_prompt_name' is {spec.default_prompt_name!r}, which is not "
                             f"one of its prompts ({', '.join(map(repr, spec.prompts)) or 'none'})")
    return spec


def check_widths(modules: list, paths: list[Path]) -> None:
    """The modules must fit together: Pooling's word_embedding_dimension is the backbone's hidden size,
    and each Dense (in_features, out_features) takes the width of the vectors the module before it gives."""
    hidden, width, source = modules[0].hidden_size, None, None
    for module, path in zip(modules[1:], paths[1:]):
        if module.kind == "Pooling":
            if module.dimension is not None and module.dimension != hidden:
                raise ModelLoadError(f"{path / 'config.json'}: field 'word_embedding_dimension' is "
                                     f"{module.dimension}, but the Transformer's hidden_size is {hidden} "
                                     f"({paths[0] / 'config.json'})")
            width, source = hidden * len(module.modes), "the Pooling module gives"
        elif module.kind == "Dense":
            if width is None:
                width, source = hidden, "the Pooling module gives"  # mean pooling, added when none is listed
            if module.in_features != width:
                raise ModelLoadError(f"{path / 'config.json'}: field 'in_features' is {module.in_features}, but "
                                     f"{source} {width}-dim vectors")
            width, source = module.out_features, f"{path.name} gives"


def modules_json(kinds: list[str]) -> list[dict]:
    """modules.json for modules of these types, in order: the Transformer at the folder's root, every
    other module in its own folder `{index}_{type}`."""
    return [{"idx": i, "name": str(i), "path": "" if kind == "Transformer" else f"{i}_{kind}",
             "type": f"sentence_transformers.models.{kind}"} for i, kind in enumerate(kinds)]
