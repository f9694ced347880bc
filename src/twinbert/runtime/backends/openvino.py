"""openvino: OpenVINO runs the backbone graph on the CPU (float32, bfloat16 where the CPU computes it
natively, int8).

One compiled model with NUM_STREAMS = workers (its throughput mode: each stream owns a share of the cores)
and one infer request per worker thread, so batches run in parallel streams (measured on 2 cores,
benchmarks/RESULTS.md). INFERENCE_PRECISION_HINT is set explicitly, since OpenVINO computes in bf16 by
default on a CPU with native bf16 (which would not be exact). Its graph is OpenVINO's own form of the
exported ONNX graph (openvino_model.xml + .bin, what sentence-transformers' backend="openvino" reads); its
compiled blobs are kept beside it in the compiled-model cache and checked before each compile (cache.py).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from ...errors import ModelLoadError
from . import Backend, Graph

NAME = "openvino"
GRAPH = "openvino_model.xml"
HINTS = {"float32": "f32", "bfloat16": "bf16", "int8": "f32"}  # int8: the graph's own int8 ops, rest f32


def import_without_telemetry():
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


class OvSession:
    """An OpenVINO model compiled for the CPU with `workers` streams and one infer request per thread.
    cache_dir: OpenVINO's own cache of compiled blobs (keyed by the graph, device and its version)."""

    def __init__(self, path: Path, workers: int, precision: str, cache_dir: Path | None = None):
        from ..sessions import require

        ov = require(NAME)
        core = ov.Core()
        if cache_dir is not None:
            core.set_property({"CACHE_DIR": str(cache_dir)})
        config = {"INFERENCE_PRECISION_HINT": HINTS[precision], "NUM_STREAMS": str(workers),
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


def to_openvino(onnx_path: Path, xml_path: Path, hint: str | None = None) -> Path:
    """OpenVINO's own form of the graph (openvino_model.xml + .bin), weights kept in fp32. hint: the
    inference precision it was exported for ("f32", "bf16"), recorded in the model's rt_info under
    runtime_options/INFERENCE_PRECISION_HINT. OpenVINO 2026.4's CPU plugin does not apply that entry by
    itself, and computes in bf16 by default on a CPU with native bf16: a reader that must be exact passes
    {"INFERENCE_PRECISION_HINT": "f32"} when compiling (twinbert does; sentence-transformers:
    model_kwargs={"ov_config": {...}}).
    Read with the runtime's own ONNX reader (Core.read_model): an ONNX file needs none of ov.convert_model's
    Python tooling (whose telemetry import_without_telemetry keeps declined)."""
    from ..sessions import require

    ov = require(NAME)
    model = ov.Core().read_model(str(onnx_path))
    if hint:
        model.set_rt_info(hint, ["runtime_options", "INFERENCE_PRECISION_HINT"])
    ov.save_model(model, str(xml_path), compress_to_fp16=False)
    return xml_path


def build(onnx_path: Path, folder: Path, precision: str) -> None:
    to_openvino(onnx_path, folder / GRAPH, hint=HINTS[precision])


def load(folder: Path, workers: int, precision: str) -> OvSession:
    from .. import cache

    with cache.checked_blobs(folder) as blobs:  # OpenVINO's compiled blobs, checked like the graph
        return OvSession(folder / GRAPH, workers, precision, blobs)


def open_backbone(transformer, precision: str, **how):
    from ..backbone import GraphBackbone

    return GraphBackbone(BACKEND, transformer, precision, **how)


BACKEND = Backend(name=NAME, precisions=("float32", "bfloat16", "int8"), devices=("cpu",), open=open_backbone,
                  package="openvino", pip="openvino", extra="openvino", importer=import_without_telemetry,
                  rank={"float32": 2, "bfloat16": 1, "int8": 2},
                  graph=Graph(build=build, load=load, files=(GRAPH, "openvino_model.bin"), folder="openvino"))
