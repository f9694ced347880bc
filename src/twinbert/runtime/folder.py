"""`twinbert export`: a model folder that other runtimes and languages read.

OUT holds the sentence-transformers model (modules.json, the Transformer, Pooling, Dense, Normalize folders)
plus:
  onnx/model.onnx                 backend onnx: the backbone graph sentence-transformers (backend="onnx"),
                                  optimum and text-embeddings-inference load (last_hidden_state out)
  openvino/openvino_model.xml+bin backend openvino: the same graph in OpenVINO's form (backend="openvino");
                                  the precision exported for is recorded in its rt_info; on a CPU with
                                  native bf16 OpenVINO computes bf16 unless told f32 (backends/openvino.py)
  onnx/sentence_embedding.onnx    always: token ids in (input_ids, attention_mask[, token_type_ids]),
                                  pooling + Dense + Normalize inside, sentence_embedding out, so onnxruntime
                                  alone gives the sentence vectors (any language)
int8 writes the quantized graphs under the same names (dynamic, or static with calibration sentences).
The folder is written like every model save (formats/model_folder.py): built aside, then moved in.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import InputError
from . import backends, export, quantize, sessions
from .backbone import calibration_feeds

log = logging.getLogger("twinbert")

GRAPHS = "onnx"  # the folder of the standalone sentence graph (and of ONNX Runtime's backbone graph)
SENTENCE_GRAPH = "sentence_embedding.onnx"
CHECKER = "onnx"  # the backend whose runtime reads the standalone sentence graph (ONNX Runtime)
CHECK_TEXTS = ["A man is playing a guitar.", "", "Someone is slicing a tomato on a wooden board in the kitchen."]


def check_target(backend: str, precision: str) -> None:
    """`backend` has a graph to export (twinbert.runtime.backends) and computes `precision`."""
    targets = backends.exported()
    if backend not in targets:
        raise InputError(f"unknown backend {backend!r}: export writes {' or '.join(targets)}", argument="backend")
    computes = backends.get(backend).precisions
    if precision not in computes:
        others = [b for b in targets if backends.get(b).supports(precision)]
        raise InputError(f"precision {precision!r} is not computed by backend {backend!r}"
                         + (f"; use backend {' or '.join(others)}" if others else "")
                         + f" (it computes {', '.join(computes)})", argument="precision")
    sessions.require(backend)


def export_folder(encoder, out, *, backend: str = "onnx", precision: str = "float32",
                  calibration: list[str] | None = None, overwrite: bool = False) -> dict:
    """Write `encoder` (loaded in torch, float32) to `out` with the graphs of `backend` at `precision`;
    returns what was written and how far the standalone graph's vectors are from torch's. `out` may hold
    a model only with overwrite=True, and is never the folder `encoder` was loaded from."""
    from ..formats.model_folder import check_target as check_folder
    from ..formats.model_folder import save_model, source_folders

    check_target(backend, precision)
    sources = source_folders(encoder.name)
    check_folder(out, overwrite=overwrite, model_ok=False, sources=sources)
    if calibration is not None and precision != "int8":
        raise InputError("calibration sentences are for --precision int8", argument="calibration")
    sessions.require(CHECKER)  # the standalone graph is checked with ONNX Runtime
    mode = "static" if calibration else "dynamic" if precision == "int8" else None
    graph = backends.get(backend).graph

    def write(tmp: Path) -> None:
        encoder._write(tmp)
        graphs = tmp / GRAPHS
        graphs.mkdir()
        backbone = export.export_backbone(encoder.transformer, graphs / "backbone_fp32.onnx")
        sentence = export.export_sentence(encoder, graphs / "sentence_fp32.onnx")
        if mode:
            feeds = calibration_feeds(encoder.transformer, calibration) if calibration else None
            backbone = _int8(backbone, graphs / "backbone_int8.onnx", feeds)
            sentence = _int8(sentence, graphs / "sentence_int8.onnx", feeds)
        sentence.rename(graphs / SENTENCE_GRAPH)
        target = tmp / graph.folder
        target.mkdir(exist_ok=True)
        graph.build(backbone, target, precision)
        keep = {SENTENCE_GRAPH, *(graph.files if target == graphs else ())}
        for stray in graphs.iterdir():  # the intermediate graphs
            if stray.name not in keep:
                stray.unlink()

    folder = save_model(out, write, overwrite=overwrite, model_ok=False, sources=sources)
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()
                   and p.parts[len(folder.parts)] in (GRAPHS, graph.folder))
    return {"output": str(folder), "backend": backend, "precision": precision, "int8": mode, "files": files,
            "sentence_graph": str(folder / GRAPHS / SENTENCE_GRAPH),
            "max_abs_diff": check_sentence_graph(encoder, folder / GRAPHS / SENTENCE_GRAPH)}


def _int8(source: Path, target: Path, feeds) -> Path:
    if feeds is None:
        return quantize.dynamic(source, target)
    return quantize.static(source, target, feeds)


def check_sentence_graph(encoder, path: Path, texts: list[str] = CHECK_TEXTS) -> float:
    """Max abs difference between the standalone graph's vectors (bare ONNX Runtime) and torch's."""
    import torch

    from .. import batching

    ort = sessions.require(CHECKER)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    tokens = encoder.transformer.tokenize(texts)
    ids, mask, types = batching.padded(tokens.input_ids, tokens.token_type_ids, np.arange(len(texts)),
                                       encoder.transformer.pad_id)
    feeds = dict(zip(["input_ids", "attention_mask", "token_type_ids"], (ids.numpy(), mask.numpy(), types.numpy())))
    got = session.run(["sentence_embedding"], {k: feeds[k] for k in names})[0]
    with torch.inference_mode():
        want = encoder.forward(ids, mask, types).float().numpy()
    return float(np.abs(got - want).max())

