"""torch: the transformers model itself runs the backbone (any device torch has, float32 / bfloat16 / float16).

The reference backend: every other is checked against it (<= 1e-5 at float32), training runs in it (the only
differentiable one), and a call with a precision of its own runs in it under autocast. Its model is built
from the folder on first use (Transformer.model), so a load that runs another backend from a cached graph
never builds it.
"""
from __future__ import annotations

import torch

from . import REFERENCE, Backend


class TorchBackbone:
    """The Transformer's torch model as a backbone (see twinbert.runtime.backends for the protocol)."""
    backend = REFERENCE
    workers = None  # the batching engine decides (torch's own threads)
    differentiable = True

    def __init__(self, transformer):
        self.transformer = transformer

    @property
    def precision(self) -> str:
        """The weights' dtype (a call's own precision runs under autocast, see twinbert.device)."""
        return str(self.transformer.dtype).replace("torch.", "")

    @property
    def device(self) -> torch.device:
        return self.transformer.device

    def forward(self, features: dict, all_layers: bool) -> dict:
        transformer = self.transformer
        out = transformer.model(**transformer.model_inputs(features), output_hidden_states=all_layers,
                                return_dict=True)
        features["token_embeddings"] = out.last_hidden_state
        features["all_layer_embeddings"] = out.hidden_states if all_layers else None
        features["pooler_output"] = getattr(out, "pooler_output", None) if transformer.has_pooler else None
        return features

    def describe(self) -> dict:
        return {"backend": self.backend, "precision": self.precision}


def open_backbone(transformer, precision: str | None = None, **_how) -> TorchBackbone:
    """The torch backbone of `transformer`, its model built now (a load with backend="torch" fails at once
    on a folder it cannot load)."""
    transformer.build_model()
    return TorchBackbone(transformer)


BACKEND = Backend(name=REFERENCE, precisions=("float32", "bfloat16", "float16"), devices=None,
                  open=open_backbone, rank={"float32": 3, "bfloat16": 2, "float16": 1})
