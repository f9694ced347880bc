"""GraphBackbone: the backbone step run from a compiled graph (ONNX Runtime, OpenVINO: any backend whose file
in backends/ declares a Graph) instead of torch.

It answers the backbone protocol (twinbert.runtime.backends) with the same features as torch (token_embeddings,
all_layer_embeddings, pooler_output, as torch tensors), so the pooling, Dense and Normalize modules, every
encode option and the one batching engine stay as they are. Two graphs, each built on first use and kept in
the compiled-model cache (cache.py): the last layer (and the pooler output when the model has a trained
pooler), and, for layer choices and output="all_layers", one that also returns every hidden state.

A graph is keyed by the weights it was built from. While the torch model was never built, or is as it was
built, those are the weights of the model folder's files (cache.folder_hash: no torch model is needed to find
a cached graph, so a load from a warm cache never builds it); once the torch weights changed in memory (a
trimmed vocabulary, load_state_dict, an in-place edit), by the hash of those weights, and the graph is built
again from them: a graph of other weights is never used, and never cached under these weights' key.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import torch

from ..errors import ModelLoadError
from ..formats.hashing import text_blake2b, weights_blake2b, weights_state
from . import cache, export, quantize, sessions
from .backends import Backend

log = logging.getLogger("twinbert")


class GraphBackbone:
    """A compiled-graph backend's backbone (see the module docstring)."""
    differentiable = False

    def __init__(self, spec: Backend, transformer, precision: str, *, workers: int,
                 model_folder: Path | None = None, calibration: list[str] | None = None, fallback: bool = False):
        """model_folder: where the compiled graphs are cached (cache.root_for)."""
        self.spec, self.transformer = spec, transformer
        self.backend, self.precision, self.workers = spec.name, precision, workers
        self.model_folder = model_folder
        self.fallback = fallback
        self.calibration = list(calibration) if calibration else None
        self.mode = "static" if self.calibration else "dynamic" if precision == "int8" else None
        self.version = sessions.version(self.backend)
        source = getattr(transformer, "source", None)  # the folder the weights came from (None: in memory)
        self._files = cache.folder_hash(source) if source is not None else None
        self._memory: tuple | None = None  # (weights_state, hash) of the torch weights last hashed
        self._sessions: dict[bool, object] = {}
        self._key: dict[bool, str] = {}
        self._lock = threading.Lock()
        if not cache.has_entry(cache.root_for(model_folder), self.key(False)):
            transformer.build_model()  # a cold cache: the model is built now, so a folder it cannot load fails the load

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def describe(self) -> dict:
        """What runs, as recorded with results."""
        record = {"backend": self.backend, "precision": self.precision, "runtime_version": self.version,
                  "workers": self.workers}
        if self.mode:
            record["int8"] = self.mode
        return record

    def settings(self, hidden_states: bool) -> dict:
        """What shapes the compiled graph besides the weights (the key's settings)."""
        calibration = text_blake2b("\n".join(self.calibration)) if self.calibration else None
        return {"backend": self.backend, "precision": self.precision, "int8": self.mode,
                "calibration": calibration, "hidden_states": hidden_states, "pooler": self.transformer.has_pooler,
                "inputs": export.input_names(self.transformer), "runtime": self.version,
                "export": export.EXPORT_VERSION}

    def weights(self) -> str:
        """The hash of the weights that run: the folder's files while the torch model is unbuilt or as built
        from them, else the torch weights as they are now (rehashed only when they changed)."""
        model = self.transformer.built_model
        if model is None and self._files is not None:
            return self._files
        state = weights_state(model) if model is not None else None
        if self._files is not None and state is not None and state == self.transformer.built_state:
            return self._files
        if self._memory is None or state is None or self._memory[0] != state:
            self._memory = (state, weights_blake2b(self.transformer.model))
        return self._memory[1]

    def key(self, hidden_states: bool) -> str:
        return cache.fingerprint(self.weights(), self.settings(hidden_states))

    def session(self, hidden_states: bool = False):
        """The session of one graph, compiled (or read from the cache) on first use, and again whenever
        the weights that run changed since (see the module docstring)."""
        with self._lock:
            key = self.key(hidden_states)
            if self._key.get(hidden_states) != key:
                self._sessions[hidden_states] = self._open(hidden_states, key)
                self._key[hidden_states] = key
            return self._sessions[hidden_states]

    def _open(self, hidden_states: bool, key: str):
        what = f"{self.backend} {self.precision} graph" + (" with hidden states" if hidden_states else "")
        folder = cache.entry(cache.root_for(self.model_folder), key, lambda tmp: self._build(tmp, hidden_states),
                             what)
        return self.spec.graph.load(folder, self.workers, self.precision)

    def _build(self, folder: Path, hidden_states: bool) -> None:
        """Export the fp32 graph, quantize it for int8, turn it into the backend's own graph files."""
        fp32 = export.export_backbone(self.transformer, folder / "fp32.onnx", pooler=self.transformer.has_pooler,
                                      hidden_states=hidden_states)
        graph = fp32
        if self.precision == "int8":
            graph = folder / "int8.onnx"
            if self.mode == "static":
                quantize.static(fp32, graph, calibration_feeds(self.transformer, self.calibration))
            else:
                quantize.dynamic(fp32, graph)
        self.spec.graph.build(graph, folder, self.precision)
        for stray in folder.iterdir():  # the intermediate graphs and anything the tools left
            if stray.name not in self.spec.graph.files and stray.is_file():
                stray.unlink()

    def forward(self, features: dict, all_layers: bool) -> dict:
        """The backbone protocol's forward, computed by the runtime from numpy feeds."""
        try:
            session = self.session(all_layers)
        except ModelLoadError as e:
            if not self.fallback:
                raise
            log.warning("backend %s cannot run this model (%s); running it in torch", self.backend, e)
            self.transformer.backbone = self.transformer.reference_backbone()
            return self.transformer.backbone.forward(features, all_layers)
        feeds = {"input_ids": features["input_ids"].cpu().numpy(),
                 "attention_mask": features["attention_mask"].cpu().numpy()}
        types = features.get("token_type_ids")
        feeds["token_type_ids"] = types.cpu().numpy() if types is not None else np.zeros_like(feeds["input_ids"])
        out = session(feeds)
        features["token_embeddings"] = torch.from_numpy(out["last_hidden_state"])
        features["all_layer_embeddings"] = tuple(torch.from_numpy(h) for h in out["hidden_states"]) \
            if all_layers else None
        features["pooler_output"] = torch.from_numpy(out["pooler_output"]) if self.transformer.has_pooler else None
        return features


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
