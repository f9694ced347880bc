"""onnx: ONNX Runtime runs the backbone graph on the CPU (float32, int8).

One session, `workers` threads calling run() side by side, each run single-threaded (intra_op_num_threads=1):
two one-thread products of these small shapes outpace one two-thread product, as in torch (twinbert.batching;
measured on 2 cores, benchmarks/RESULTS.md). Every graph optimisation is on (its transformer fusions:
attention, LayerNorm, GELU). The graph is the exported ONNX graph itself (int8: quantized), model.onnx, the
file sentence-transformers, optimum and text-embeddings-inference read.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import ModelLoadError
from . import Backend, Graph

NAME = "onnx"
GRAPH = "model.onnx"


class OrtSession:
    """An ONNX Runtime session: `session(feeds) -> {output name: array}`, safe from several threads."""

    def __init__(self, path: Path, workers: int):
        from ..sessions import require

        ort = require(NAME)
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


def build(onnx_path: Path, folder: Path, precision: str) -> None:
    """The exported graph is ONNX Runtime's own: moved into place."""
    onnx_path.replace(folder / GRAPH)


def load(folder: Path, workers: int, precision: str) -> OrtSession:
    return OrtSession(folder / GRAPH, workers)


def open_backbone(transformer, precision: str, **how):
    from ..backbone import GraphBackbone

    return GraphBackbone(BACKEND, transformer, precision, **how)


BACKEND = Backend(name=NAME, precisions=("float32", "int8"), devices=("cpu",), open=open_backbone,
                  package="onnxruntime", pip="onnxruntime", extra="onnx", rank={"float32": 1, "int8": 1},
                  graph=Graph(build=build, load=load, files=(GRAPH,), folder="onnx"))
