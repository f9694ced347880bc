"""The engine's rows: cut at the token limit from either end (a prompt kept whole), token ids framed with
the model's special tokens, the vectors equal to encode()'s."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from twinbert.errors import InputError
from twinbert.serve.engine import Engine, TooLong, run_rows

TEXT = "one two three four five six seven eight nine ten eleven twelve"


@pytest.fixture(scope="module")
def prompted(minilm):
    encoder = copy.copy(minilm)  # the same modules, its own prompts
    encoder.prompts = {"query": "query: "}
    return encoder


def tokens(encoder, rows):
    return encoder.tokenizer.convert_ids_to_tokens(rows.ids[0])


def test_cuts_keep_the_special_tokens_and_a_prompt(prompted):
    engine = Engine(prompted, max_input_tokens=12)
    right = engine.texts([TEXT], engine.key(), truncate=True)
    assert tokens(prompted, right) == ["[CLS]", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                                       "ten", "[SEP]"]
    left = engine.texts([TEXT], engine.key(), truncate=True, left=True)
    assert tokens(prompted, left)[:3] == ["[CLS]", "three", "four"] and len(left.ids[0]) == 12
    query = engine.key(prompt_name="query")
    assert query.prompt_length == 3
    assert tokens(prompted, engine.texts([TEXT], query, left=True))[:4] == ["[CLS]", "query", ":", "five"]
    with pytest.raises(TooLong, match=r"inputs\[0\] has 14 tokens, more than the limit of 12"):
        engine.texts([TEXT], engine.key(), truncate=False)


def test_token_ids_are_framed_checked_and_embedded_like_text(minilm):
    engine = Engine(minilm)
    ids = minilm.transformer.pieces(["a cat sat"])[0]
    rows = engine.token_ids([ids])
    assert rows.ids[0] == minilm.transformer.tokenize(["a cat sat"]).input_ids[0]
    np.testing.assert_allclose(run_rows(minilm, engine.key(), rows), minilm.encode(["a cat sat"]), atol=1e-6)
    with pytest.raises(InputError, match="token id 99999, outside this model's vocabulary"):
        engine.token_ids([[1, 99999]])
    with pytest.raises(TooLong):
        engine.token_ids([[1000] * 300], truncate=False)
    assert len(engine.token_ids([[1000] * 300]).ids[0]) == 256


def test_info_reports_the_backend_and_precision_that_run(tiny_bert):
    """/info's model_dtype is what computes (ONNX Runtime int8 here), not the torch weights' float32."""
    from fastapi.testclient import TestClient

    from twinbert.serve.app import create_app
    from twinbert.serve.load import load_served

    served = load_served(str(tiny_bert), device="cpu", backend="onnx", precision="int8")
    with TestClient(create_app(served)) as client:
        info = client.get("/info").json()
    assert (info["backend"], info["model_dtype"]) == ("onnx", "int8")
    assert (info["models"][0]["backend"], info["models"][0]["precision"]) == ("onnx", "int8")
    assert served.encoder.dtype == torch.float32  # the weights the graph was built from
