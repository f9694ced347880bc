"""The runtimes' packages: `require(backend)` imports the package a backend needs (its Backend in
twinbert.runtime.backends names it), or says which extra brings it; `available` and `version` ask the same.
Each backend's session (how it runs its graph, its parallelism) lives in its own file under backends/.
"""
from __future__ import annotations

import importlib

from ..errors import MissingExtraError
from .backends import get


def require(backend: str):
    """The runtime module of `backend` (None for a backend of the core dependencies alone);
    MissingExtraError naming what to install when it is missing."""
    spec = get(backend)
    if spec.package is None:
        return None
    try:
        # __import__ (not importlib): what a test that hides a package replaces
        return spec.importer() if spec.importer is not None else __import__(spec.package)
    except ImportError as e:
        raise MissingExtraError(f"backend={backend!r} needs the {spec.pip} package (part of twinbert's default "
                                f"install): pip install 'twinbert[{spec.extra}]' (or pip install {spec.pip}); "
                                "backend='torch' works without it", extra=spec.extra, argument="backend") from e


def available(backend: str) -> bool:
    try:
        require(backend)
    except MissingExtraError:
        return False
    return True


def version(backend: str) -> str:
    """The version of the package that runs `backend` (torch's for a backend of the core alone)."""
    module = require(backend) or importlib.import_module("torch")
    return getattr(module, "__version__", None) or module.get_version()
