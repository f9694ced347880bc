"""twinbert.bert.fill_mask and the masked-LM loader: parity with transformers' FillMaskPipeline
(several masks included), and the errors for a text without a mask or a checkpoint without the head."""
from __future__ import annotations

import pytest
import transformers
from conftest import build_tiny_bert

from twinbert.bert import fill_mask, load_masked_lm
from twinbert.errors import InputError, ModelLoadError

TEXTS = ["soccer is a really fun [MASK] .", "the [MASK] sat on the [MASK] .", "i love [MASK]"]


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlm")
    return {head: build_tiny_bert(root / head, head=head, seed=5)
            for head in ("BertForMaskedLM", "BertForPreTraining", "BertForNextSentencePrediction", "BertModel")}


@pytest.fixture(scope="module")
def mlm(ckpts):
    return load_masked_lm(ckpts["BertForMaskedLM"], device="cpu")


def pipeline_for(folder):
    return transformers.pipeline("fill-mask", model=transformers.AutoModelForMaskedLM.from_pretrained(str(folder)),
                                 tokenizer=transformers.AutoTokenizer.from_pretrained(str(folder)), device="cpu")


@pytest.mark.parametrize("head", ["BertForMaskedLM", "BertForPreTraining"])
def test_matches_fill_mask_pipeline(ckpts, head):
    pipe = pipeline_for(ckpts[head])
    model = load_masked_lm(ckpts[head], device="cpu")
    ours = fill_mask(model, TEXTS, top_k=5)  # one batch: padded rows
    for text, result in zip(TEXTS, ours):
        expected = pipe(text, top_k=5)
        expected = expected if isinstance(expected[0], list) else [expected]
        assert len(result) == len(expected) == text.count("[MASK]")
        for got, want in zip(result, expected):
            assert [g["token_id"] for g in got] == [w["token"] for w in want]
            assert [g["token"] for g in got] == [w["token_str"] for w in want]
            for g, w in zip(got, want):
                assert g["score"] == pytest.approx(w["score"], abs=1e-5)
                if len(expected) == 1 and g["token_id"] > 4:  # the pipeline drops a predicted special token
                    assert g["sequence"] == w["sequence"]


def test_one_text_several_masks_and_sequences(mlm):
    result = fill_mask(mlm, "the [MASK] sat on the [MASK] .", top_k=3)
    assert len(result) == 2 and all(len(r) == 3 for r in result)
    assert set(result[0][0]) == {"token", "token_id", "score", "sequence"}
    for first, second in zip(*result):  # each mask filled alone; a predicted special token is shown too
        assert first["sequence"] == f"the {first['token']} sat on the [MASK]."
        assert second["sequence"] == f"the [MASK] sat on the {second['token']}."
    assert fill_mask(mlm, ["the [MASK] sat on the [MASK] ."], top_k=3) == [result]
    assert len(fill_mask(mlm, "i love [MASK]", top_k=1000)[0]) == mlm.model.config.vocab_size


def test_text_without_mask(mlm):
    with pytest.raises(InputError, match=r"texts\[1\] 'no mask here' has no mask token: write \[MASK\]"):
        fill_mask(mlm, ["i love [MASK]", "no mask here"])
    with pytest.raises(InputError, match="beyond the model's max_seq_length of 64"):
        fill_mask(mlm, "the cat " * 40 + "[MASK]")
    with pytest.raises(InputError, match="top_k must be a positive integer"):
        fill_mask(mlm, "i love [MASK]", top_k=0)


@pytest.mark.parametrize("head", ["BertModel", "BertForNextSentencePrediction"])
def test_checkpoint_without_masked_lm_head(ckpts, head):
    with pytest.raises(ModelLoadError) as e:
        load_masked_lm(ckpts[head], device="cpu")
    assert str(e.value) == (f"model {ckpts[head]} has no masked-LM head (cls.predictions.* missing): "
                            "use a BertForMaskedLM or BertForPreTraining checkpoint")


def test_fresh_head_from_a_sentence_transformers_folder(minilm_path):
    with pytest.raises(ModelLoadError, match="model all-MiniLM-L6-v2 has no masked-LM head"):
        load_masked_lm("all-MiniLM-L6-v2", device="cpu")
    model = load_masked_lm("all-MiniLM-L6-v2", allow_new_head=True, device="cpu")
    assert type(model.model).__name__ == "BertForMaskedLM" and model.max_seq_length == 256
    assert any(k.startswith("cls.predictions.") for k in model.missing_keys)
    assert not any(k.startswith("bert.") for k in model.missing_keys)  # the encoder weights are the trained ones
    assert len(fill_mask(model, "Paris is the [MASK] of France.", top_k=2)[0]) == 2


def test_lower_casing_models_keep_the_mask_token(tmp_path):
    from twinbert.modules.transformer import Transformer

    transformer = Transformer.load(build_tiny_bert(tmp_path / "lower"))
    transformer.do_lower_case = True
    assert transformer._lower("The CAT [MASK] on [SEP] It") == "the cat [MASK] on [SEP] it"
    assert transformer.tokenize(["The CAT [MASK]."]).input_ids == [[2, 5, 7, 4, 27, 3]]
