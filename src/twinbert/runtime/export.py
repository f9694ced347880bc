"""ONNX export of the backbone, and of the whole sentence pipeline as one standalone graph.

The backbone graph is the one sentence-transformers, optimum and text-embeddings-inference read
(onnx/model.onnx): inputs input_ids, attention_mask [, token_type_ids], output last_hidden_state
[batch, tokens, hidden]; on request also pooler_output and hidden_states [layers + 1, batch, tokens, hidden]
(0 = embeddings) for twinbert's layer choices. The sentence graph adds the model's own Pooling, Dense and
Normalize modules inside, output sentence_embedding, so onnxruntime alone (any language) gives the
sentence vectors from token ids.

The export traces the model with eager attention: its MatMul/Softmax pattern is the one ONNX Runtime's and
OpenVINO's attention fusions recognise (the SDPA form exports as a longer graph that neither fuses).
"""
from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from ..errors import ModelLoadError

log = logging.getLogger("twinbert")

OPSET = 17  # LayerNormalization as one op; read by onnxruntime >= 1.14 and OpenVINO >= 2023
EXPORT_VERSION = 2  # bump when the graphs change, so cached graphs are rebuilt
_AXES = {0: "batch_size", 1: "sequence_length"}


def input_names(transformer) -> list[str]:
    """input_ids, attention_mask, and token_type_ids for a model with more than one token type (as
    Transformer.model_inputs passes them)."""
    names = ["input_ids", "attention_mask"]
    if getattr(transformer.model_config, "type_vocab_size", 0) > 1:
        names.append("token_type_ids")
    return names


class _Backbone(nn.Module):
    """The backbone with positional inputs and a tuple of named outputs, as the tracer needs it."""

    def __init__(self, transformer, pooler: bool, hidden_states: bool):
        super().__init__()
        self.transformer, self.pooler, self.hidden_states = transformer, pooler, hidden_states
        self.names = input_names(transformer)

    def forward(self, *inputs):
        out = self.transformer.model(**dict(zip(self.names, inputs)), output_hidden_states=self.hidden_states,
                                     return_dict=True)
        result = [out.last_hidden_state]
        if self.pooler:
            result.append(out.pooler_output)
        if self.hidden_states:
            result.append(torch.stack(out.hidden_states))
        return tuple(result)


class _Sentence(nn.Module):
    """Backbone -> the encoder's head modules (Pooling, Dense ..., Normalize) -> sentence_embedding."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        self.names = input_names(encoder.transformer)

    def forward(self, *inputs):
        features = dict(zip(self.names, inputs))
        features.setdefault("token_type_ids", None)
        features = self.encoder.transformer.reference_backbone().forward(features, False)
        return self.encoder.pool_and_project(features, self.encoder.head())["sentence_embedding"]


def backbone_outputs(transformer, pooler: bool = False, hidden_states: bool = False) -> list[str]:
    return ["last_hidden_state"] + (["pooler_output"] if pooler else []) + (["hidden_states"] if hidden_states else [])


def export_backbone(transformer, path: Path, *, pooler: bool = False, hidden_states: bool = False) -> Path:
    """Write the backbone graph to `path` (fp32, dynamic batch and length)."""
    outputs = backbone_outputs(transformer, pooler, hidden_states)
    axes = {name: _AXES for name in input_names(transformer) + ["last_hidden_state"]}
    if pooler:
        axes["pooler_output"] = {0: "batch_size"}
    if hidden_states:
        axes["hidden_states"] = {1: "batch_size", 2: "sequence_length"}
    _export(_Backbone(transformer, pooler, hidden_states), transformer, path, outputs, axes)
    return path


def export_sentence(encoder, path: Path) -> Path:
    """Write the standalone sentence graph: token ids in, the model's sentence vectors out."""
    names = input_names(encoder.transformer)
    axes = {name: _AXES for name in names}
    axes["sentence_embedding"] = {0: "batch_size"}
    _export(_Sentence(encoder), encoder.transformer, path, ["sentence_embedding"], axes)
    return path


def _export(module: nn.Module, transformer, path: Path, outputs: list[str], axes: dict) -> None:
    names = input_names(transformer)
    # two rows of different lengths, so no shape is traced as a constant
    ids = torch.full((2, 8), transformer.pad_id if transformer.pad_id is not None else 0, dtype=torch.long)
    ids[:, :6] = 5
    mask = torch.zeros((2, 8), dtype=torch.long)
    mask[0, :6], mask[1, :4] = 1, 1
    args = (ids, mask, torch.zeros_like(ids))[:len(names)]
    model = transformer.model
    if next(model.parameters()).dtype != torch.float32:
        raise ModelLoadError("the ONNX export needs float32 weights; load the model with precision='float32' "
                             "and ask the runtime for the precision (backend='onnx'/'openvino', precision=...)")
    with _eager_attention(model), torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python values; the graph is checked after
        try:
            torch.onnx.export(module.eval(), args, str(path), input_names=names, output_names=outputs,
                              dynamic_axes=axes, opset_version=OPSET, dynamo=False, do_constant_folding=True)
        except Exception as e:  # the tracer's many failure types: one clear message naming the model
            raise ModelLoadError(f"cannot export model type {model.config.model_type!r} to ONNX "
                                 f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                                 "use backend='torch'") from e


@contextlib.contextmanager
def _eager_attention(model):
    before = getattr(model.config, "_attn_implementation", None)
    switch = before not in (None, "eager") and hasattr(model, "set_attn_implementation")
    if switch:
        try:
            model.set_attn_implementation("eager")
        except (ValueError, ImportError):
            switch = False
    try:
        yield
    finally:
        if switch:
            model.set_attn_implementation(before)
