"""twinbert.bert.next_sentence and the NSP loader: probabilities equal to BertForNextSentencePrediction's
softmax (label 0 = IsNext), and clear errors for checkpoints without the head."""
from __future__ import annotations

import pytest
import torch
import transformers
from conftest import VOCAB, build_tiny_bert

from twinbert.bert import load_next_sentence, next_sentence
from twinbert.errors import InputError, ModelLoadError

FIRST = ["the cat sat on the mat .", "i love paris", "soccer is fun"]
SECOND = ["it is happy .", "the game is very fun !", "the dog ran in the park and it is happy"]


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp("nsp")
    return {head: build_tiny_bert(root / head, head=head, seed=7)
            for head in ("BertForNextSentencePrediction", "BertForPreTraining", "BertForMaskedLM", "BertModel")}


def reference(folder, first, second):
    model = transformers.BertForNextSentencePrediction.from_pretrained(str(folder)).eval()
    batch = transformers.AutoTokenizer.from_pretrained(str(folder))(first, second, return_tensors="pt")
    with torch.inference_mode():
        return model(**batch).logits.softmax(dim=-1)[0].tolist()


@pytest.mark.parametrize("head", ["BertForNextSentencePrediction", "BertForPreTraining"])
def test_matches_transformers(ckpts, head):
    model = load_next_sentence(ckpts[head], device="cpu")
    results = next_sentence(model, FIRST, SECOND)  # one padded batch
    for a, b, got in zip(FIRST, SECOND, results):
        is_next, not_next = reference(ckpts[head], a, b)
        assert got["is_next"] == pytest.approx(is_next, abs=1e-5)
        assert got["not_next"] == pytest.approx(not_next, abs=1e-5)
        assert got["is_next"] + got["not_next"] == pytest.approx(1.0, abs=1e-12)
    assert next_sentence(model, FIRST[0], SECOND[0]) == pytest.approx(results[0], abs=1e-6)


def test_bad_input(ckpts):
    model = load_next_sentence(ckpts["BertForNextSentencePrediction"], device="cpu")
    with pytest.raises(InputError, match="first has 2 texts but second has 1"):
        next_sentence(model, ["a", "b"], ["c"])
    with pytest.raises(InputError, match=r"second\[0\] is NoneType"):
        next_sentence(model, "a", [None])


@pytest.mark.parametrize("head, absent", [
    ("BertModel", "cls.seq_relationship.*"),
    ("BertForMaskedLM", "cls.seq_relationship.*, bert.pooler.dense.*"),  # no pooler either
])
def test_checkpoint_without_nsp_head(ckpts, head, absent):
    with pytest.raises(ModelLoadError) as e:
        load_next_sentence(ckpts[head], device="cpu")
    assert str(e.value) == (f"model {ckpts[head]} has no next-sentence head ({absent} missing): "
                            "use a BertForNextSentencePrediction or BertForPreTraining checkpoint")


def test_model_type_without_nsp_head(tmp_path):
    folder = tmp_path / "distil"
    config = transformers.DistilBertConfig(vocab_size=len(VOCAB), dim=32, n_layers=1, n_heads=4, hidden_dim=64,
                                           max_position_embeddings=64)
    transformers.DistilBertModel(config).save_pretrained(str(folder))
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="is a distilbert model, and transformers has no next-sentence head "
                                             "for distilbert: use a BertForNextSentencePrediction"):
        load_next_sentence(folder, device="cpu")
