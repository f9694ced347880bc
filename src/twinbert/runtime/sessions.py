"""The two runtimes behind one call: `session(feeds) -> {output name: array}`, safe to call from several
threads at once (the batching engine runs one batch per worker thread).

How each runtime's parallelism is used (measured on 2 cores, benchmarks/RESULTS.md):
  ONNX Runtime  one session, `workers` threads calling run() side by side, each run single-threaded
                (intra_op_num_threads=1): two one-thread products of these small shapes outpace one
                two-thread product, as in torch (twinbert.batching).
  OpenVINO      one compiled model with NUM_STREAMS = workers (its throughput mode: each stream owns a
                share of the cores) and one infer request per worker thread, so batches run in parallel
                streams; INFERENCE_PRECISION_HINT is set explicitly, since OpenVINO computes in bf16 by
                default on a CPU with native bf16 (which would not be exact).
"""
from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import numpy as np

from ..errors import MissingExtraError, ModelLoadError

# runtime -> (import name, pip package, twinbert extra)
PACKAGES = {"onnx": ("onnxruntime", "onnxruntime", "onnx"), "openvino": ("openvino", "openvino", "openvino")}
OV_HINTS = {"float32": "f32", "bfloat16": "bf16", "int8": "f32"}  # int8: the graph's own int8 ops, rest f32


def require(backend: str):
    """The runtime module of `backend`; MissingExtraError naming what to install when it is missing."""
    module, package, extra = PACKAGES[backend]
    try:
        if module == "openvino" and module not in sys.modules:
            return _import_openvino_without_telemetry()
        return __import__(module)
    except ImportError as e:
        raise MissingExtraError(f"backend={backend!r} needs the {package} package (part of twinbert's default "
                                f"install): pip install 'twinbert[{extra}]' (or pip install {package}); "
                                "backend='torch' works without it", extra=extra, argument="backend") from e


def _import_openvino_without_telemetry():
    """`import openvino` sends a usage event (and its model converter more) to Google Analytics unless the
    user opted out or runs in CI: a forked process that, with no network, blocks in its DNS lookup and keeps
    the program from exiting (multiprocessing joins it at exit). twinbert sends nothing: the import runs
    with CI=true, the opt-out the telemetry honours, and the environment is put back as it was."""
    before = os.environ.get("CI")
    os.environ["CI"] = "true"
    try:
        import openvino
    finally:
        if before is None:
            os.environ.pop("CI", None)
        else:
            os.environ["CI"] = before
    return openvino


def available(backend: str) -> bool:
    try:
        require(backend)
    except MissingExtraError:
        return False
    return True


def version(backend: str) -> str:
    module = require(backend)
    return getattr(module, "__version__", None) or module.get_version()


class OrtSession:
    """An ONNX Runtime session with every graph optimisation on (its transformer fusions: attention,
    LayerNorm, GELU), one thread per run, `workers` runs side by side."""

    def __init__(self, path: Path, workers: int):
        ort = require("onnx")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # ORT raises its own error types for unreadable or invalid graphs
            raise ModelLoadError(f"{path}: ONNX Runtime cannot load this graph ({str(e).splitlines()[0]})") from e
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.workers = workers

    def __call__(self, feeds: dict[str, np.ndarray], outputs: list[str] | None = None) -> dict[str, np.ndarray]:
        names = outputs or self.outputs
        values = self.session.run(names, {k: feeds[k] for k in self.inputs})
        return dict(zip(names, values))


class OvSession:
    """An OpenVINO model compiled for the CPU with `workers` streams and one infer request per thread.
    cache_dir: OpenVINO's own cache of compiled blobs (keyed by the graph, device and its version)."""

    def __init__(self, path: Path, workers: int, precision: str, cache_dir: Path | None = None):
        ov = require("openvino")
        core = ov.Core()
        if cache_dir is not None:
            core.set_property({"CACHE_DIR": str(cache_dir)})
        config = {"INFERENCE_PRECISION_HINT": OV_HINTS[precision], "NUM_STREAMS": str(workers),
                  "INFERENCE_NUM_THREADS": str(workers),
                  "PERFORMANCE_HINT": "THROUGHPUT" if workers > 1 else "LATENCY"}
        try:
            self.compiled = core.compile_model(str(path), "CPU", config)
        except Exception as e:  # OpenVINO raises RuntimeError subclasses with multi-line texts
            raise ModelLoadError(f"{path}: OpenVINO cannot compile this graph ({str(e).splitlines()[0]})") from e
        self.inputs = [p.get_any_name() for p in self.compiled.inputs]
        self.outputs = [p.get_any_name() for p in self.compiled.outputs]
        self.workers = workers
        self._local = threading.local()

    def __call__(self, feeds: dict[str, np.ndarray], outputs: list[str] | None = None) -> dict[str, np.ndarray]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        result = request.infer({k: feeds[k] for k in self.inputs})
        # the request reuses its output buffers on the next call: copy what is kept
        return {name: np.array(result[name]) for name in (outputs or self.outputs)}


def open_session(backend: str, path: Path, workers: int, precision: str, cache_dir: Path | None = None):
    if backend == "onnx":
        return OrtSession(path, workers)
    return OvSession(path, workers, precision, cache_dir)
