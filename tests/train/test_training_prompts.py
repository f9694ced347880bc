"""Training sees what inference sees: the model's default prompt goes before every training text."""
from __future__ import annotations

import numpy as np
import torch

import twinbert
from twinbert.losses import build_loss
from twinbert.train.data import TrainingData
from twinbert.train.sentence import SentenceObjective


def _objective(encoder):
    data = TrainingData("pairs", [["i love paris", "a dog"], ["the cat sat", "happy"]], np.array([0.5, 0.1]), {})
    return SentenceObjective(encoder, build_loss("cosine", dimension=encoder.dimension), data)


def test_default_prompt_is_put_before_training_texts(tiny_bert):
    plain = twinbert.load(str(tiny_bert), device="cpu")
    prompted = twinbert.load(str(tiny_bert), device="cpu")
    prompted.prompts, prompted.default_prompt_name = {"query": "the game "}, "query"
    expected = plain.transformer.tokenize(["the game i love paris", "the game a dog"]).input_ids
    assert _objective(prompted).tokens[0].input_ids == expected
    assert _objective(plain).tokens[0].input_ids == plain.transformer.tokenize(["i love paris", "a dog"]).input_ids
    # and the training forward then gives the vectors encode() gives
    with torch.no_grad():
        objective = _objective(prompted)
        ids = torch.tensor([objective.tokens[0].input_ids[0]])
        trained_view = prompted(ids, torch.ones_like(ids)).numpy()
    np.testing.assert_allclose(trained_view[0], prompted.encode("i love paris"), atol=1e-6)
