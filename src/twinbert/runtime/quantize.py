"""int8: the backbone graph with quantized weights (int8, one scale per output channel) and activations.

  dynamic  activations quantized per batch from their own range at run time (ONNX Runtime's
           DynamicQuantizeLinear + MatMulInteger): no calibration, the quality of the default tier.
  static   activation ranges fixed beforehand from calibration sentences (the user's own), written as
           QuantizeLinear/DequantizeLinear pairs (QDQ), which ONNX Runtime and OpenVINO both turn into int8
           kernels; no range work at run time.

Only the MatMuls (the projections and the feed-forward layers: ~all of the FLOPs) are quantized; the
embeddings, LayerNorm, softmax and GELU stay fp32, which keeps STS quality within the tier's bounds
(tests/runtime/test_precision.py).
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import InputError, MissingExtraError

log = logging.getLogger("twinbert")


def read_calibration(path) -> list[str]:
    """Calibration sentences from a text file (.txt one a line, or .csv/.tsv/.jsonl with a `text` column,
    as twinbert.formats.texts reads them); blank lines skipped."""
    from ..formats.texts import read_texts

    if not Path(path).is_file():
        raise InputError(f"{path}: calibration file not found (a text file of sentences, one a line)",
                         argument="calibration")
    texts = [t for t in read_texts(path, "text" if Path(path).suffix in (".csv", ".tsv", ".jsonl") else None)
             if t.strip()]
    if not texts:
        raise InputError(f"{path}: the calibration file holds no sentences", argument="calibration")
    return texts


class _NoPreprocessingAdvice(logging.Filter):
    """onnxruntime.quantization logs (root logger) advice to run its shape pre-processing on every call;
    these graphs are exported with static shapes inferred already, so the advice is noise to the user."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing" not in record.getMessage()


@contextlib.contextmanager
def _quiet():
    advice = _NoPreprocessingAdvice()
    logging.getLogger().addFilter(advice)
    try:
        yield
    finally:
        logging.getLogger().removeFilter(advice)


def _quantization():
    try:
        from onnxruntime import quantization
    except ImportError as e:
        raise MissingExtraError("int8 quantization needs the onnxruntime and onnx packages (part of twinbert's "
                                "default install): pip install 'twinbert[onnx]'", extra="onnx") from e
    return quantization


def dynamic(source: Path, target: Path) -> Path:
    q = _quantization()
    with _quiet():
        q.quantize_dynamic(str(source), str(target), op_types_to_quantize=["MatMul"], per_channel=True,
                           weight_type=q.QuantType.QInt8, extra_options={"MatMulConstBOnly": True})
    return target


class _Feeds:
    """onnxruntime's CalibrationDataReader over padded batches of the calibration sentences."""

    def __init__(self, batches: Iterator[dict[str, np.ndarray]]):
        self.batches = batches

    def get_next(self):
        return next(self.batches, None)

    def rewind(self):  # one pass is all MinMax calibration needs
        pass


def static(source: Path, target: Path, batches: list[dict[str, np.ndarray]]) -> Path:
    """`batches`: the model's inputs (input_ids, attention_mask ...) of the calibration sentences.

    The feed-forward down-projections stay fp32: their input (the GELU output) has outliers a fixed int8
    range cannot hold; quantized, they cost all-MiniLM-L6-v2 0.036 STS-B Spearman, kept fp32 0.002
    (measured, benchmarks/RESULTS.md). Activations are quantized symmetrically (zero point 0), which the
    VNNI int8 x int8 kernels take directly."""
    q = _quantization()
    log.info("calibrating int8 activation ranges on %d batches", len(batches))
    with _quiet():
        q.quantize_static(str(source), str(target), _Feeds(iter(batches)), quant_format=q.QuantFormat.QDQ,
                          op_types_to_quantize=["MatMul"], per_channel=True, activation_type=q.QuantType.QInt8,
                          weight_type=q.QuantType.QInt8, calibrate_method=q.CalibrationMethod.MinMax,
                          nodes_to_exclude=down_projections(source),
                          extra_options={"ActivationSymmetric": True, "WeightSymmetric": True,
                                         "MatMulConstBOnly": True})
    return target


def down_projections(path: Path) -> list[str]:
    """The MatMul nodes whose weight narrows the width ([k, n] with k > n): the feed-forward output
    projections of every BERT-family layer, whatever the model names them."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    shapes = {t.name: list(t.dims) for t in graph.initializer}
    narrowing = []
    for node in graph.node:
        dims = shapes.get(node.input[1]) if node.op_type == "MatMul" and len(node.input) > 1 else None
        if dims and len(dims) == 2 and dims[0] > dims[1]:
            narrowing.append(node.name)
    return narrowing
