"""The models that ship inside twinbert load offline, are what their cards say, and score what their
cards say (ko-twinbert-small: the Korean recipe's published model)."""
from __future__ import annotations

import json
import re

import pytest
import safetensors.torch
import torch
from conftest import DATA

import twinbert
from twinbert.cli.main import main
from twinbert.formats.resolve import SHIPPED_DIR, available_models

CARD = SHIPPED_DIR / "ko-twinbert-small" / "README.md"


def card_scores() -> dict[str, float]:
    rows = re.findall(r"^\| ([\w-]+:\w+) \| ([0-9.]+) \|$", CARD.read_text(encoding="utf-8"), flags=re.M)
    return {name: float(value) for name, value in rows}


def test_ko_twinbert_small_loads_offline_as_a_small_float16_model():
    model = twinbert.load("ko-twinbert-small", device="cpu")
    assert model.default_prompt_name == "query" and model.dimension == 384
    assert sum(p.numel() for p in model.parameters()) < 40e6  # trimmed from e5-small's 117.5M
    stored = safetensors.torch.load_file(str(SHIPPED_DIR / "ko-twinbert-small" / "model.safetensors"))
    assert {t.dtype for t in stored.values()} == {torch.float16}
    assert any(m["name"] == "ko-twinbert-small" and m["path"] for m in available_models())
    # it reads whole passages: its base's inference length, not the recipe's training length (64)
    assert model.max_seq_length == 512 == model.tokenizer.model_max_length
    tokenizer = json.loads((SHIPPED_DIR / "ko-twinbert-small" / "tokenizer.json").read_text(encoding="utf-8"))
    assert tokenizer["truncation"]["max_length"] == 512 and tokenizer["padding"] is None
    vectors = model.encode(["한 남자가 기타를 치고 있다.", "남자가 악기를 연주한다.", "주식 시장이 급락했다."])
    similar, unrelated = twinbert.similarity(vectors[:1], vectors[1:])[0]
    assert similar > unrelated + 0.2


def test_ko_twinbert_small_scores_what_its_card_says(capsys):
    scores = card_scores()
    assert set(scores) == {"korsts:test", "klue-sts:dev", "stsb:test", "korsts:dev", "korquad:test", "korquad:dev"}
    assert main(["eval", "ko-twinbert-small", "--task", "korsts", "--split", "test", "--data-root", str(DATA),
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["settings"]["prompt_name"] == "query"
    assert doc["metrics"]["spearman_cosine"] == pytest.approx(scores["korsts:test"], abs=2e-4)
