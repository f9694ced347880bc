"""The classic BERT toolbox on plain checkpoints: features of every layer, fill-mask, next-sentence."""
from .features import Features, features
from .fill_mask import fill_mask
from .heads import load_head, load_masked_lm, load_next_sentence
from .nsp import next_sentence

__all__ = ["Features", "features", "fill_mask", "load_head", "load_masked_lm", "load_next_sentence",
           "next_sentence"]

