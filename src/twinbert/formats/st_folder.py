"""The sentence-transformers folder format: modules.json listing the modules in order, each with its
own config. Read: both Pooling schemas, the legacy layout with the backbone in 0_Transformer/, Dense,
Normalize. A folder without modules.json is a plain checkpoint: backbone + mean pooling.
Write: a folder that sentence-transformers 6.x, older readers and text-embeddings-inference can all load.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, ModelLoadError


@dataclass
class FolderSpec:
    """What a model folder holds, before any weights are loaded."""
    backbone: Path                    # folder with config.json + weights + tokenizer
    pooling: tuple[str, ...] | None   # None: no Pooling module (plain checkpoint)
    dense: list[Path] = field(default_factory=list)
    normalize: bool = False
    similarity: str = "cosine"
    prompts: dict = field(default_factory=dict)


def _read_json(path: Path) -> dict | list:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"{path}: unreadable JSON ({e})") from e


def read_folder(folder: Path) -> FolderSpec:
    from ..modules import pooling

    if not (folder / "modules.json").is_file():
        return FolderSpec(backbone=folder, pooling=None)
    modules = _read_json(folder / "modules.json")
    if not isinstance(modules, list):
        raise ModelLoadError(f"{folder / 'modules.json'}: expected a list of modules")
    spec = FolderSpec(backbone=folder, pooling=None)
    for i, m in enumerate(modules):
        if not isinstance(m, dict):
            raise ModelLoadError(f"{folder / 'modules.json'}: module {i} is {type(m).__name__}, expected an "
                                 "object with 'type' and 'path'")
        kind = str(m.get("type", "")).rsplit(".", 1)[-1]
        sub = folder / m.get("path", "")
        if kind == "Transformer":
            spec.backbone = sub
        elif kind == "Pooling":
            path = sub / "config.json"
            try:
                spec.pooling = pooling.read_config(_read_json(path), str(path))
            except InputError as e:  # a broken model folder, not bad user input: name the file
                message = str(e)
                raise ModelLoadError(message if message.startswith(str(path)) else f"{path}: {message}") from None
        elif kind == "Dense":
            spec.dense.append(sub)
        elif kind == "Normalize":
            spec.normalize = True
        else:
            raise ModelLoadError(f"{folder / 'modules.json'}: module {i} has type {m.get('type')!r}; "
                                 "twinbert reads Transformer, Pooling, Dense and Normalize")
    st_config = folder / "config_sentence_transformers.json"
    if st_config.is_file():
        cfg = _read_json(st_config)
        spec.similarity = cfg.get("similarity_fn_name") or "cosine"
        spec.prompts = cfg.get("prompts") or {}
    return spec


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
