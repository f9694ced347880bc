"""The sentence-transformers folder format: modules.json listing the modules in order, each with its
own config. Read: both Pooling schemas, the legacy layout with the backbone in 0_Transformer/, Dense,
Normalize. A folder without modules.json is a plain checkpoint: backbone + mean pooling.
Write: a folder that sentence-transformers 6.x, older readers and text-embeddings-inference can all load.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, ModelLoadError
from .checkpoint import field as check_field
from .checkpoint import read_json


@dataclass
class FolderSpec:
    """What a model folder holds, before any weights are loaded."""
    backbone: Path                    # folder with config.json + weights + tokenizer
    pooling: tuple[str, ...] | None   # None: no Pooling module (plain checkpoint)
    dense: list[Path] = field(default_factory=list)
    normalize: bool = False
    similarity: str = "cosine"
    prompts: dict = field(default_factory=dict)
    pooling_config: Path | None = None      # the Pooling module's config.json ...
    pooling_dimension: int | None = None    # ... and its word_embedding_dimension (the backbone's hidden size)


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


def read_folder(folder: Path) -> FolderSpec:
    """Read modules.json and the module configs; every broken file or value is a ModelLoadError
    naming the file and the field."""
    from ..modules import pooling
    from ..similarity import METRICS

    if not (folder / "modules.json").is_file():
        return FolderSpec(backbone=folder, pooling=None)
    modules = read_json(folder / "modules.json")
    if not isinstance(modules, list):
        raise ModelLoadError(f"{folder / 'modules.json'}: expected a list of modules")
    spec = FolderSpec(backbone=folder, pooling=None)
    for i, m in enumerate(modules):
        if not isinstance(m, dict):
            raise ModelLoadError(f"{folder / 'modules.json'}: module {i} is {type(m).__name__}, expected an "
                                 "object with 'type' and 'path'")
        kind = str(m.get("type", "")).rsplit(".", 1)[-1]
        if kind == "Transformer":
            spec.backbone = _module_folder(folder, m, i, kind)
        elif kind == "Pooling":
            path = _module_folder(folder, m, i, kind) / "config.json"
            config = _settings(path)
            try:
                spec.pooling = pooling.read_config(config, str(path))
            except InputError as e:  # a broken model folder, not bad user input: name the file
                message = str(e)
                raise ModelLoadError(message if message.startswith(str(path)) else f"{path}: {message}") from None
            spec.pooling_config = path
            spec.pooling_dimension = check_field(config, "word_embedding_dimension", path, "positive")
        elif kind == "Dense":
            spec.dense.append(_module_folder(folder, m, i, kind))
        elif kind == "Normalize":
            spec.normalize = True  # it has no files; sentence-transformers may not even create its folder
        else:
            raise ModelLoadError(f"{folder / 'modules.json'}: module {i} has type {m.get('type')!r}; "
                                 "twinbert reads Transformer, Pooling, Dense and Normalize")
    path = folder / "config_sentence_transformers.json"
    if path.is_file():
        cfg = _settings(path)
        spec.similarity = check_field(cfg, "similarity_fn_name", path, "str", "cosine")
        if spec.similarity not in METRICS:
            raise ModelLoadError(f"{path}: field 'similarity_fn_name' is {spec.similarity!r}; expected one of "
                                 + ", ".join(METRICS))
        spec.prompts = check_field(cfg, "prompts", path, "dict", {})
        for name, prompt in spec.prompts.items():
            if not isinstance(prompt, str):
                raise ModelLoadError(f"{path}: field 'prompts' maps {name!r} to {prompt!r}; expected a text")
    return spec


def check_widths(spec: FolderSpec, hidden_size: int, dense: list[tuple[int, int]]) -> None:
    """The modules must fit together: Pooling's word_embedding_dimension is the backbone's hidden size,
    and each Dense (in_features, out_features) takes the width of the vectors the module before it gives."""
    if spec.pooling_dimension is not None and spec.pooling_dimension != hidden_size:
        raise ModelLoadError(f"{spec.pooling_config}: field 'word_embedding_dimension' is {spec.pooling_dimension}, "
                             f"but the Transformer's hidden_size is {hidden_size} ({spec.backbone / 'config.json'})")
    width, source = hidden_size * len(spec.pooling or ("mean",)), "the Pooling module gives"
    for path, (n_in, n_out) in zip(spec.dense, dense):
        if n_in != width:
            raise ModelLoadError(f"{path / 'config.json'}: field 'in_features' is {n_in}, but {source} "
                                 f"{width}-dim vectors")
        width, source = n_out, f"{path.name} gives"


def modules_json(n_dense: int, normalize: bool) -> list[dict]:
    mods = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    for k in range(n_dense):
        i = len(mods)
        mods.append({"idx": i, "name": str(i), "path": f"{i}_Dense", "type": "sentence_transformers.models.Dense"})
    if normalize:
        i = len(mods)
        mods.append({"idx": i, "name": str(i), "path": f"{i}_Normalize",
                     "type": "sentence_transformers.models.Normalize"})
    return mods
