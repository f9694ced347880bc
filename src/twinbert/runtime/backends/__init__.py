"""The backbone protocol and the one registry of backends.

A backbone is what turns token ids into token states for the Transformer module (twinbert.modules): the
Transformer holds exactly one, and every encode, the server, Ray and training go through it. Its protocol:

  backend         its backend's name (as `twinbert.load(backend=...)` takes it)
  precision       what it computes in ("float32", "bfloat16", "float16", "int8")
  device          where its inputs are put (the batching engine pads them there) and its outputs come back
  workers         how many batches it runs at once on the CPU (None: the batching engine decides)
  differentiable  whether gradients flow through it (only then may a training step use it)
  forward(features, all_layers) -> features
                  features: input_ids, attention_mask, token_type_ids (tensors on `device`); sets
                  token_embeddings, all_layer_embeddings (every hidden state, 0 = embeddings; only with
                  all_layers, else None) and pooler_output (None without a trained pooler)
  describe()      what runs, as recorded with results (backend, precision, ...)

A backend is ONE file in this package that declares `BACKEND = Backend(...)`: its name, the precisions and
devices it runs, the package and extra it needs, how it opens a backbone, and (for a compiled-graph backend)
how it builds its graph from the exported ONNX graph and opens it. The files are found here by themselves,
so a new backend touches its own file (and its extra in pyproject.toml) and nothing else. A backend made in
code (a test's) joins with `register`. Backend names are compared only in this package.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ...errors import InputError

REFERENCE = "torch"  # the backend every other is checked against, the one that trains


class Backbone(Protocol):
    """What the Transformer module calls (see the module docstring)."""
    backend: str
    precision: str
    workers: int | None
    differentiable: bool

    @property
    def device(self) -> Any: ...

    def forward(self, features: dict, all_layers: bool) -> dict: ...

    def describe(self) -> dict: ...


@dataclass(frozen=True)
class Backend:
    """One backend, as its file declares it.

    open(transformer, precision, *, workers, model_folder, calibration, fallback) -> a Backbone: run
        `transformer`'s backbone at `precision` (model_folder: where its weights came from, None when built
        in memory; calibration: sentences for static int8; fallback: give way to the reference backend on a
        graph it cannot build).
    rank: precision -> the order backend="auto" tries the backends that compute it (lower first).
    graph: for a compiled-graph backend, how it turns the exported ONNX graph into its own files and opens
        them (see Graph); None for a backend that runs the torch module itself."""
    name: str
    precisions: tuple[str, ...]
    devices: tuple[str, ...] | None  # device types it runs on ("cpu", "cuda"); None: every device torch has
    open: Callable[..., Backbone]
    package: str | None = None  # the Python module it imports (None: the core dependencies suffice)
    pip: str | None = None      # the pip package that brings `package`
    extra: str | None = None    # the twinbert extra that installs it
    importer: Callable[[], Any] | None = None  # how to import `package` (None: a plain import)
    rank: Mapping[str, int] = field(default_factory=dict)
    graph: Graph | None = None

    def supports(self, precision: str) -> bool:
        return precision in self.precisions

    def runs_on(self, device_type: str) -> bool:
        return self.devices is None or device_type in self.devices


@dataclass(frozen=True)
class Graph:
    """A compiled-graph backend's two steps (twinbert.runtime.backbone.GraphBackbone does the rest: export,
    int8 quantization, the compiled-model cache, the numpy feeds).

    build(onnx_path, folder, precision): write the backend's graph files (`files`) into `folder` from the
        exported (and, for int8, quantized) ONNX graph; `twinbert export` calls it on `<out>/<folder>`.
    load(folder, workers, precision) -> session: open the built graph; `session(feeds) -> {output: array}`,
        safe to call from several threads at once.
    folder: the subfolder of sentence-transformers' layout `twinbert export` writes it to (onnx/, openvino/)."""
    build: Callable[[Path, Path, str], None]
    load: Callable[[Path, int, str], Callable[[dict], dict]]
    files: tuple[str, ...]
    folder: str


_REGISTRY: dict[str, Backend] = {}
_FOUND = False


def _discover() -> None:
    """Import every backend file of this package once (each declares BACKEND), the reference first."""
    global _FOUND
    if _FOUND:
        return
    _FOUND = True
    found = [importlib.import_module(f"{__name__}.{info.name}").BACKEND for info in pkgutil.iter_modules(__path__)]
    for backend in sorted(found, key=lambda b: b.name != REFERENCE):
        _REGISTRY.setdefault(backend.name, backend)


def register(backend: Backend) -> Backend:
    """Add `backend` (or replace the one of its name) for every later load and choice."""
    _discover()
    _REGISTRY[backend.name] = backend
    return backend


def unregister(name: str) -> None:
    """Remove a backend (one added with `register`, say); the reference stays."""
    _discover()
    if name == REFERENCE:
        raise InputError(f"the {REFERENCE} backend trains every model and cannot be removed", argument="name")
    _REGISTRY.pop(name, None)


def names() -> tuple[str, ...]:
    """Every backend's name, the reference first."""
    _discover()
    return tuple(_REGISTRY)


def get(name: str) -> Backend:
    """The backend called `name`; an InputError listing the known ones otherwise."""
    _discover()
    if name not in _REGISTRY:
        raise InputError(f"unknown backend {name!r}: expected one of {', '.join(_REGISTRY)}", argument="backend")
    return _REGISTRY[name]


def reference() -> Backend:
    """The backend that runs the torch module itself: training, gradients and a call's own precision."""
    return get(REFERENCE)


def is_reference(name: str) -> bool:
    return name == REFERENCE


def order(precision: str) -> tuple[str, ...]:
    """The backends backend="auto" tries for `precision` on the CPU, fastest first (each file's rank)."""
    _discover()
    ranked = [b for b in _REGISTRY.values() if b.supports(precision) and precision in b.rank]
    return tuple(b.name for b in sorted(ranked, key=lambda b: b.rank[precision]))


def exported() -> tuple[str, ...]:
    """The backends `twinbert export` writes a graph for (those with a compiled graph)."""
    _discover()
    return tuple(name for name, b in _REGISTRY.items() if b.graph is not None)


__all__ = ["REFERENCE", "Backbone", "Backend", "Graph", "exported", "get", "is_reference", "names", "order",
           "reference", "register", "unregister"]
