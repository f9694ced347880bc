"""The classic BERT toolbox on plain checkpoints: features of every layer, fill-mask, next-sentence."""
from __future__ import annotations

from .features import Features, features
from .fill_mask import fill_mask
from .heads import load_head, load_masked_lm, load_next_sentence
from .nsp import next_sentence

__all__ = ["Features", "features", "fill_mask", "load_head", "load_masked_lm", "load_next_sentence",
           "next_sentence"]

# trained heads: sequence classification, cross-encoder, masked-LM training
from .classifier import Classifier, train_classifier
from .cross_encoder import CrossEncoder, train_cross_encoder
from .masking import mask_tokens
from .mlm import evaluate_masked_lm, train_masked_lm

__all__ += ["Classifier", "train_classifier", "CrossEncoder", "train_cross_encoder", "evaluate_masked_lm",
            "mask_tokens", "train_masked_lm"]
