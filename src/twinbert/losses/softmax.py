"""Softmax classification loss: the Sentence-BERT NLI objective (Reimers & Gurevych, 2019, eq. 1).

    o = softmax(W_t [u; v; |u - v|])          W_t in R^{k x 3n}
    loss = cross-entropy(o, gold label)

u, v: the two sentence embeddings (dimension n), k: number of labels. `concat_product=True` appends
u * v as well (W_t then k x 4n). The classifier W_t is trained with the encoder; when the data names
its labels, twinbert.train.sentence saves it beside the model, in the output folder's softmax_head/
(`save`: weights and labels), for NLI predictions (twinbert.evaluate.nli_head). It is not a module
of the sentence encoder: embedding sentences does not need it, and sentence-transformers ignores it.
"""
from __future__ import annotations

import torch
from torch import nn

from ._base import Loss


class SoftmaxLoss(Loss):
    name = "softmax"
    columns = (2,)
    label_kind = "class"
    summary = "classification over (u, v, |u-v|) with cross-entropy: NLI labels"

    def __init__(self, dimension: int, num_labels: int, concat_product: bool = False):
        super().__init__()
        self.num_labels = int(num_labels)
        self.concat_product = concat_product
        self.classifier = nn.Linear((4 if concat_product else 3) * dimension, self.num_labels)

    def features(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        parts = [u, v, (u - v).abs()] + ([u * v] if self.concat_product else [])
        return torch.cat(parts, dim=-1)

    def forward(self, embeddings: list[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        u, v = embeddings
        logits = self.classifier(self.features(u, v).to(self.classifier.weight.dtype))
        return nn.functional.cross_entropy(logits.float(), labels.long())

    @torch.no_grad()
    def predict(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Class probabilities [n, k] for embedding pairs."""
        logits = self.classifier(self.features(u, v).to(self.classifier.weight.dtype))
        return torch.softmax(logits.float(), dim=-1)

    def save(self, folder, labels: list[str] | None) -> None:
        """The classifier as `folder/model.safetensors` + `folder/config.json` (labels, concat_product)."""
        import json
        from pathlib import Path

        import safetensors.torch

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        safetensors.torch.save_file({k: t.detach().cpu().contiguous() for k, t in self.state_dict().items()},
                                    str(folder / "model.safetensors"))
        (folder / "config.json").write_text(json.dumps({
            "dimension": self.classifier.in_features // (4 if self.concat_product else 3),
            "num_labels": self.num_labels, "labels": labels, "concat_product": self.concat_product}, indent=2))
