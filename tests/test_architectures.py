"""Any AutoModel encoder architecture loads as a plain checkpoint and encodes like transformers does
(tiny random models built here; the tokenizer is a small WordPiece one sized to each model)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import VOCAB

import twinbert

TEXTS = ["the cat sat on the mat .", "i love paris", "", "a dog ran in the park"]

ARCHS = {
    "bert": ("BertConfig", "BertModel", {}),
    "roberta": ("RobertaConfig", "RobertaModel", {"pad_token_id": 0, "type_vocab_size": 1}),
    "xlm-roberta": ("XLMRobertaConfig", "XLMRobertaModel", {"pad_token_id": 0, "type_vocab_size": 1}),
    "distilbert": ("DistilBertConfig", "DistilBertModel", {}),
    "electra": ("ElectraConfig", "ElectraModel", {}),
    "mpnet": ("MPNetConfig", "MPNetModel", {"pad_token_id": 0}),
}


def build(folder, arch):
    import transformers
    from transformers import BertTokenizerFast

    config_name, model_name, extra = ARCHS[arch]
    common = dict(vocab_size=len(VOCAB), max_position_embeddings=66)
    if arch == "distilbert":
        config = transformers.DistilBertConfig(dim=32, n_layers=2, n_heads=4, hidden_dim=64, **common)
    else:
        config = getattr(transformers, config_name)(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                                    intermediate_size=64, **common, **extra)
    torch.manual_seed(0)
    model = getattr(transformers, model_name)(config)
    model.save_pretrained(str(folder), safe_serialization=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    BertTokenizerFast(vocab=str(folder / "vocab.txt")).save_pretrained(str(folder))
    return folder


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_architecture_matches_transformers(arch, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    folder = build(tmp_path / arch, arch)
    enc = twinbert.load(str(folder))
    assert enc.info()["model_type"] == arch
    got = enc.encode(TEXTS, pooling="mean")
    model = AutoModel.from_pretrained(str(folder)).eval()
    tok = AutoTokenizer.from_pretrained(str(folder))
    for i, text in enumerate(TEXTS):
        features = tok(text, return_tensors="pt", return_token_type_ids=False)
        with torch.no_grad():
            hidden = model(**features).last_hidden_state[0]
        np.testing.assert_allclose(got[i], hidden.mean(0).numpy(), atol=2e-5)
