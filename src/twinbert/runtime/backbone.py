"""RuntimeBackbone: the backbone step run by ONNX Runtime or OpenVINO instead of torch.

Attached to the Transformer module (`transformer.runtime`), it answers Transformer.forward at inference
with the same features (token_embeddings, all_layer_embeddings, pooler_output) as torch tensors, so the
pooling, Dense and Normalize modules, every encode option and the one batching engine stay as they are.
Two graphs, each built on first use and kept in the compiled-model cache (cache.py): the last layer (and
the pooler output when the model has a trained pooler), and, for layer choices and output="all_layers",
one that also returns every hidden state.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import torch

from ..errors import ModelLoadError
from . import cache, export, quantize, sessions

log = logging.getLogger("twinbert")


def weights_state(model: torch.nn.Module) -> tuple:
    """A cheap token of the weights: each tensor's storage, in-place version counter and shape."""
    return tuple((t.data_ptr(), t._version, tuple(t.shape)) for t in (*model.parameters(), *model.buffers()))


class RuntimeBackbone:
    def __init__(self, transformer, backend: str, precision: str, *, workers: int,
                 model_folder: Path | None = None, calibration: list[str] | None = None, fallback: bool = False):
        self.transformer = transformer
        self.backend, self.precision, self.workers = backend, precision, workers
        self.model_folder = model_folder
        self.fallback = fallback
        self.calibration = list(calibration) if calibration else None
        self.mode = "static" if self.calibration else "dynamic" if precision == "int8" else None
        self.version = sessions.version(backend)
        self._state = weights_state(transformer.model)
        self._weights = cache.weights_hash(transformer.model)
        self._sessions: dict[bool, object] = {}
        self._lock = threading.Lock()

    def describe(self) -> dict:
        """What runs, as recorded with results."""
        record = {"backend": self.backend, "precision": self.precision, "runtime_version": self.version,
                  "workers": self.workers}
        if self.mode:
            record["int8"] = self.mode
        return record

    def settings(self, hidden_states: bool) -> dict:
        """What shapes the compiled graph besides the weights (the fingerprint's settings)."""
        import hashlib

        calibration = hashlib.blake2b("\n".join(self.calibration).encode(), digest_size=16).hexdigest() \
            if self.calibration else None
        return {"backend": self.backend, "precision": self.precision, "int8": self.mode,
                "calibration": calibration, "hidden_states": hidden_states, "pooler": self.transformer.has_pooler,
                "inputs": export.input_names(self.transformer), "runtime": self.version,
                "export": export.EXPORT_VERSION}

    def session(self, hidden_states: bool = False):
        """The session of one graph, compiled (or read from the cache) on first use, and again whenever
        the torch weights changed since (a trimmed vocabulary, load_state_dict, any in-place edit): a graph
        of other weights is never used, and never cached under these weights' fingerprint."""
        with self._lock:
            state = weights_state(self.transformer.model)
            if state != self._state:
                self._state, self._weights = state, cache.weights_hash(self.transformer.model)
                self._sessions.clear()
            if hidden_states not in self._sessions:
                self._sessions[hidden_states] = self._open(hidden_states)
            return self._sessions[hidden_states]

    def _open(self, hidden_states: bool):
        key = cache.fingerprint(self._weights, self.settings(hidden_states))
        what = f"{self.backend} {self.precision} graph" + (" with hidden states" if hidden_states else "")
        folder = cache.entry(cache.root_for(self.model_folder), key, lambda tmp: self._build(tmp, hidden_states),
                             what)
        if self.backend != "openvino":
            return sessions.open_session(self.backend, folder / "model.onnx", self.workers, self.precision)
        with cache.checked_blobs(folder) as blobs:  # OpenVINO's compiled blobs, checked like the graph
            return sessions.open_session(self.backend, folder / "openvino_model.xml", self.workers, self.precision,
                                         blobs)

    def _build(self, folder: Path, hidden_states: bool) -> None:
        """Export the fp32 graph, quantize it for int8, convert it for OpenVINO."""
        pooler = self.transformer.has_pooler
        fp32 = folder / ("fp32.onnx" if self.precision == "int8" or self.backend == "openvino" else "model.onnx")
        export.export_backbone(self.transformer, fp32, pooler=pooler, hidden_states=hidden_states)
        graph = fp32
        if self.precision == "int8":
            graph = folder / ("int8.onnx" if self.backend == "openvino" else "model.onnx")
            if self.mode == "static":
                quantize.static(fp32, graph, self.calibration_batches())
            else:
                quantize.dynamic(fp32, graph)
        if self.backend == "openvino":
            to_openvino(graph, folder / "openvino_model.xml", hint=sessions.OV_HINTS[self.precision])
        keep = ("model.onnx", "openvino_model.xml", "openvino_model.bin")
        for stray in folder.iterdir():  # the intermediate graphs and anything the tools left
            if stray.name not in keep and stray.is_file():
                stray.unlink()

    def calibration_batches(self) -> list[dict[str, np.ndarray]]:
        return self.calibration_feeds(self.transformer, self.calibration)

    @staticmethod
    def calibration_feeds(transformer, texts: list[str], batch_tokens: int = 4096) -> list[dict[str, np.ndarray]]:
        """Calibration sentences as padded model inputs, in the batching engine's length-sorted batches."""
        from .. import batching

        tokens = transformer.tokenize(texts)
        names = export.input_names(transformer)
        batches = []
        for index in batching.plan_batches([len(x) for x in tokens.input_ids], batch_tokens):
            ids, mask, types = batching.padded(tokens.input_ids, tokens.token_type_ids, index, transformer.pad_id)
            batches.append(dict(zip(names, (ids.numpy(), mask.numpy(), types.numpy()))))
        return batches

    def forward(self, features: dict, all_layers: bool, has_pooler: bool) -> dict:
        """Transformer.forward's contract, computed by the runtime."""
        try:
            session = self.session(all_layers)
        except ModelLoadError as e:
            if not self.fallback:
                raise
            log.warning("backend %s cannot run this model (%s); running it in torch", self.backend, e)
            self.transformer.runtime = None
            return self.transformer.forward_torch(features, all_layers)
        feeds = {"input_ids": features["input_ids"].cpu().numpy(),
                 "attention_mask": features["attention_mask"].cpu().numpy()}
        types = features.get("token_type_ids")
        feeds["token_type_ids"] = types.cpu().numpy() if types is not None else np.zeros_like(feeds["input_ids"])
        out = session(feeds)
        features["token_embeddings"] = torch.from_numpy(out["last_hidden_state"])
        features["all_layer_embeddings"] = tuple(torch.from_numpy(h) for h in out["hidden_states"]) \
            if all_layers else None
        features["pooler_output"] = torch.from_numpy(out["pooler_output"]) if has_pooler else None
        return features


def to_openvino(onnx_path: Path, xml_path: Path, hint: str | None = None) -> Path:
    """OpenVINO's own form of the graph (openvino_model.xml + .bin), weights kept in fp32. hint: the
    inference precision it was exported for ("f32", "bf16"), recorded in the model's rt_info under
    runtime_options/INFERENCE_PRECISION_HINT. OpenVINO 2026.4's CPU plugin does not apply that entry by
    itself, and computes in bf16 by default on a CPU with native bf16: a reader that must be exact passes
    {"INFERENCE_PRECISION_HINT": "f32"} when compiling (twinbert does; sentence-transformers:
    model_kwargs={"ov_config": {...}}).
    Read with the runtime's own ONNX reader (Core.read_model): an ONNX file needs none of ov.convert_model's
    Python tooling (whose telemetry sessions.require keeps declined)."""
    ov = sessions.require("openvino")
    model = ov.Core().read_model(str(onnx_path))
    if hint:
        model.set_rt_info(hint, ["runtime_options", "INFERENCE_PRECISION_HINT"])
    ov.save_model(model, str(xml_path), compress_to_fp16=False)
    return xml_path
