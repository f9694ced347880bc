"""The training loop on tiny random models: loss falls, accumulation, schedule, batching, best model,
early stopping, the falling-dev warning, outputs, and what a run refuses before it starts."""
from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch
from conftest import VOCAB, build_tiny_bert

import twinbert
from twinbert.data import PairExample
from twinbert.errors import InputError
from twinbert.losses import CosineSimilarityLoss
from twinbert.train import data as train_data
from twinbert.train.loop import TrainConfig, _schedule, fit
from twinbert.train.output import read_log
from twinbert.train.sentence import SentenceObjective, TrainSpec, train_sentence_encoder

WORDS = VOCAB[5:]


def sts_file(path, rows=64, seed=0):
    """sentence1<TAB>sentence2<TAB>score with a learnable rule: score = 5 * share of common words."""
    rng = random.Random(seed)
    lines = ["sentence1\tsentence2\tscore"]
    for _ in range(rows):
        a = rng.sample(WORDS, rng.randint(2, 6))
        b = [w if rng.random() < 0.5 else rng.choice(WORDS) for w in a]
        score = 5 * len(set(a) & set(b)) / len(set(a) | set(b))
        lines.append(f"{' '.join(a)}\t{' '.join(b)}\t{score:.3f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def no_dropout(folder):
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return no_dropout(build_tiny_bert(tmp_path_factory.mktemp("trainer") / "bert", seed=3))


@pytest.fixture(scope="module")
def sts(tmp_path_factory):
    return sts_file(tmp_path_factory.mktemp("sts") / "pairs.tsv")


def weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_sts_training_lowers_the_loss_and_writes_every_output(tiny, sts, tmp_path):
    out = tmp_path / "run"
    result = train_sentence_encoder(str(tiny), [TrainSpec("sts", "cosine", data=str(sts))],
                                    TrainConfig(epochs=6, batch_size=8, lr=1e-3, log_every=4, seed=1), out,
                                    show_progress=False)
    losses = [r["loss"] for r in read_log(out / "train_log.jsonl") if r["event"] == "train"]
    assert losses[-1] < 0.5 * losses[0]
    assert result.steps == 6 * 8
    model = twinbert.load(out)
    assert model.encode(["the cat sat"]).shape == (1, 32)
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    card = (out / "README.md").read_text()
    assert "pairs" in card and "cosine (CosineSimilarityLoss)" in card and '"lr": 0.001' in card
    assert not (out / ".best-model").exists()


def test_gradient_accumulation_equals_the_big_batch(tiny, sts, tmp_path):
    runs = {}
    for name, (bs, accum) in {"big": (16, 1), "accum": (8, 2)}.items():
        config = TrainConfig(epochs=1, batch_size=bs, grad_accum=accum, lr=1e-3, length_grouped=False, seed=5)
        train_sentence_encoder(str(tiny), [TrainSpec("sts", "cosine", data=str(sts))], config, tmp_path / name,
                               show_progress=False)
        runs[name] = weights(tmp_path / name)
    for key, value in runs["big"].items():
        torch.testing.assert_close(runs["accum"][key], value, atol=2e-6, rtol=1e-5)


def test_linear_warmup_then_decay():
    f = _schedule(total=10, warmup_steps=2)
    assert [round(f(s), 4) for s in range(10)] == [0.3333, 0.6667, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125]


def _objective(tiny, texts, no_duplicates=False):
    encoder = twinbert.load(tiny, device="cpu")
    data = train_data.TrainingData("toy", [texts, texts], np.zeros(len(texts), dtype=np.float32), {})
    objective = SentenceObjective(encoder, CosineSimilarityLoss(), data)
    objective.no_duplicates = no_duplicates
    return objective


def test_plan_covers_every_row_once_is_seeded_and_groups_lengths(tiny):
    rng = random.Random(0)
    texts = [" ".join(rng.choices(WORDS, k=rng.randint(1, 30))) for _ in range(400)]
    objective = _objective(tiny, texts)
    plan = objective.plan(seed=7, batch_size=16)
    assert sorted(i for b in plan for i in b) == list(range(400))
    assert plan == objective.plan(seed=7, batch_size=16) and plan != objective.plan(seed=8, batch_size=16)
    lengths = objective.lengths()

    def padding(batches):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)
    shuffled = objective.plan(seed=7, batch_size=16, length_grouped=False)
    assert padding(plan) < 0.25 * padding(shuffled)


def test_no_duplicates_plan_keeps_repeated_texts_apart(tiny):
    texts = ["the cat sat"] * 5 + [f"{w} dog" for w in WORDS[:30]]
    objective = _objective(tiny, texts, no_duplicates=True)
    plan = objective.plan(seed=1, batch_size=8)
    assert sorted(i for b in plan for i in b) == list(range(len(texts)))
    for batch in plan:
        assert len({texts[i] for i in batch}) == len(batch)


def test_best_model_is_kept_and_patience_stops_with_a_falling_dev_warning(tiny, sts, tmp_path, caplog):
    encoder = twinbert.load(tiny, device="cpu")
    prepared = train_data.prepare(twinbert.data.read_pairs(sts, ["sentence1", "sentence2", "score"],
                                                           score_range=(0, 5)), CosineSimilarityLoss())
    objective = SentenceObjective(encoder, CosineSimilarityLoss(), prepared)
    scores = iter([0.5, 0.6, 0.55, 0.5, 0.45, 0.4, 0.3])
    snapshots = {}

    def evaluate():
        snapshots[len(snapshots) + 1] = encoder.encode(["the cat sat on the mat"])
        return {"m": next(scores)}
    out = tmp_path / "run"
    result = fit(encoder, [objective], TrainConfig(epochs=20, batch_size=16, lr=1e-3, eval_every=2, patience=4),
                 out, save_model=encoder.save, evaluate=evaluate, main_metric="m", show_progress=False)
    # evaluations at steps 2, 4, 6, 8, 10, 12: best 0.6 at step 4, then 4 without improvement
    assert result.stopped_early and result.steps == 12 and result.best_step == 4
    assert result.best_metrics == {"m": 0.6}
    np.testing.assert_allclose(twinbert.load(out).encode(["the cat sat on the mat"]), snapshots[2], atol=1e-6)
    assert result.warnings and "fell 3 evaluations in a row (0.6000 -> 0.5500 -> 0.5000 -> 0.4500)" in result.warnings[0]
    events = [r["event"] for r in read_log(out / "train_log.jsonl")]
    assert events.count("eval") == 6 and "warning" in events


def test_bfloat16_training_runs(tiny, sts, tmp_path):
    result = train_sentence_encoder(str(tiny), [TrainSpec("sts", "cosine", data=str(sts))],
                                    TrainConfig(max_steps=3, batch_size=8, precision="bfloat16"), tmp_path / "bf16",
                                    show_progress=False)
    rows = [r for r in read_log(tmp_path / "bf16" / "train_log.jsonl") if r["event"] == "train"]
    assert result.steps == 3 and all(math.isfinite(r["loss"]) for r in rows)


def test_several_datasets_round_robin_with_their_own_losses(tiny, sts, tmp_path):
    nli = tmp_path / "nli.tsv"
    rows = ["premise\thypothesis\tlabel"]
    for k in range(24):
        p = " ".join(WORDS[k:k + 4])
        rows += [f"{p}\t{WORDS[k]} {WORDS[k + 1]}\tentailment", f"{p}\tnot {WORDS[k + 2]}\tcontradiction",
                 f"{p}\t{WORDS[k + 3]} sad\tneutral"]
    nli.write_text("\n".join(rows) + "\n")
    specs = [TrainSpec("sts", "cosine", data=str(sts)), TrainSpec("nli", "softmax", data=str(nli)),
             TrainSpec("nli", "mnrl", data=str(nli))]
    result = train_sentence_encoder(str(tiny), specs, TrainConfig(epochs=1, batch_size=8), tmp_path / "rr",
                                    show_progress=False)
    # 64 sts rows -> 8 batches, 72 nli pairs -> 9 batches, 24 triplets -> 3 batches
    assert result.steps == 8 + 9 + 3
    card = (tmp_path / "rr" / "README.md").read_text()
    assert "softmax (SoftmaxLoss)" in card and "mnrl (MultipleNegativesRankingLoss)" in card


@pytest.mark.parametrize("spec, message", [
    (dict(task="sts", loss="triplet"), "TripletLoss needs (anchor, positive, negative) triplets or NLI pairs; "
                                       "this data has sentence pairs with scores"),
    (dict(task="sts", loss="softmax"), "row 1 has no label"),
    (dict(task="sts", loss="mse"), "needs teacher, the model whose embeddings to imitate"),
    (dict(task="sts", loss="cosine", columns="a,b,score"), "line 1, field 'a': column 'a' is missing from the header"),
    (dict(task="sts", loss="cosine", limit=0), "limit must be a positive integer (1 or more), got 0"),
])
def test_bad_training_setups_fail_before_training(tiny, sts, tmp_path, spec, message):
    with pytest.raises(InputError) as info:
        train_sentence_encoder(str(tiny), [TrainSpec(data=str(sts), **spec)], TrainConfig(), tmp_path / "x",
                               show_progress=False)
    assert message in str(info.value)
    assert not (tmp_path / "x").exists()


def test_programmatic_data_with_nan_scores_or_labels_out_of_range():
    loss = CosineSimilarityLoss()
    with pytest.raises(InputError, match="row 2 has score nan; scores must be finite"):
        train_data.prepare([PairExample("a", "b", 1.0), PairExample("c", "d", float("nan"))], loss)
    from twinbert.losses import SoftmaxLoss

    data = twinbert.data.Dataset("nli", "train", None, [PairExample("a", "b", label=0), PairExample("c", "d", label=3)],
                                 labels=["entailment", "neutral", "contradiction"])
    with pytest.raises(InputError, match=r"row 2 has label 3, out of range; expected 0..2"):
        train_data.prepare(data, SoftmaxLoss(4, 3))


def test_softmax_head_gives_nli_accuracy_and_is_saved(tiny, tmp_path, monkeypatch):
    from twinbert.data.tasks import DATA_ENV
    from twinbert.evaluate.nli_head import evaluate_nli_head
    from twinbert.losses import SoftmaxLoss

    monkeypatch.setenv(DATA_ENV, str(__import__("pathlib").Path(__file__).resolve().parents[2].parent / "shared" / "data"))
    out = tmp_path / "nli"
    result = train_sentence_encoder(str(tiny), [TrainSpec("sick-nli", "softmax", limit=64)],
                                    TrainConfig(max_steps=2, batch_size=16), out, evals=["sick-nli:trial"],
                                    show_progress=False)
    assert result.main_metric == "cosine_accuracy" and 0 <= result.best_metrics["softmax_accuracy"] <= 1
    config = json.loads((out / "softmax_head" / "config.json").read_text())
    assert config["labels"] == ["entailment", "neutral", "contradiction"] and config["dimension"] == 32
    # the saved head reproduces the accuracy logged for the published (best) model
    from safetensors.torch import load_file

    head = SoftmaxLoss(32, 3)
    head.load_state_dict(load_file(str(out / "softmax_head" / "model.safetensors")))
    data = twinbert.data.load_task("sick-nli", "trial")
    again = evaluate_nli_head(twinbert.load(out, device="cpu"), head, data, config["labels"])
    assert again["softmax_accuracy"] == pytest.approx(result.best_metrics["softmax_accuracy"])


def test_multilingual_distillation_pulls_translations_to_the_teacher(tiny, tmp_path):
    teacher = build_tiny_bert(tmp_path / "teacher", seed=9)
    rows = ["source\ttranslation"] + [f"{' '.join(WORDS[k:k + 3])}\t{' '.join(reversed(WORDS[k:k + 3]))} !"
                                      for k in range(40)]
    (tmp_path / "parallel.tsv").write_text("\n".join(rows) + "\n")
    data = twinbert.data.read_pairs(tmp_path / "parallel.tsv", {"sentence1": "source", "sentence2": "translation"})
    sources = [e.sentence1 for e in data.examples]
    translations = [e.sentence2 for e in data.examples]
    target = twinbert.load(teacher, device="cpu").encode(sources)

    def gap(folder):
        return float(np.mean((twinbert.load(folder, device="cpu").encode(translations) - target) ** 2))
    before = gap(tiny)
    train_sentence_encoder(str(tiny), [TrainSpec("pairs", "mse", data=str(tmp_path / "parallel.tsv"),
                                                 columns="source,translation")],
                           TrainConfig(epochs=8, batch_size=8, lr=2e-3), tmp_path / "student", teacher=str(teacher),
                           show_progress=False)
    assert gap(tmp_path / "student") < 0.5 * before


def test_head_lr_gives_the_softmax_classifier_its_own_learning_rate(tiny):
    from twinbert.losses import SoftmaxLoss
    from twinbert.train.loop import _param_groups

    encoder = twinbert.load(tiny, device="cpu")
    head = SoftmaxLoss(32, 3)
    params = list(encoder.named_parameters()) + list(head.named_parameters())
    groups = _param_groups(params, {id(p) for p in head.parameters()}, TrainConfig(lr=2e-5, head_lr=1e-3))
    head_groups = [g for g in groups if any(p is head.classifier.weight or p is head.classifier.bias
                                            for p in g["params"])]
    assert {g["lr"] for g in head_groups} == {1e-3} and sum(len(g["params"]) for g in head_groups) == 2
    assert {g["lr"] for g in groups if not any(g is h for h in head_groups)} == {2e-5}
    assert sum(len(g["params"]) for g in groups) == len(params)


def test_max_seq_length_is_the_training_length_only(tiny, sts, tmp_path):
    """Training on short windows must not publish the short window as the model's inference length
    (ko-twinbert-small was saved at its training length, 64, and cut every KorQuAD passage)."""
    before = twinbert.load(tiny).max_seq_length
    train_sentence_encoder(str(tiny), [TrainSpec("sts", "cosine", data=str(sts))], TrainConfig(max_steps=2, batch_size=8),
                           tmp_path / "short", max_seq_length=8, show_progress=False)
    assert before > 8
    assert json.loads((tmp_path / "short" / "sentence_bert_config.json").read_text())["max_seq_length"] == before
    assert twinbert.load(tmp_path / "short").max_seq_length == before
