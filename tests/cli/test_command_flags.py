"""The flags of serve, recipe korean, train and export come from their settings: every field of the config
dataclass (ServeConfig, KoreanRecipe, TrainConfig + TrainSpec) and every keyword of export_model (export has
no dataclass; its backends and precisions come from the backend registry) has a flag,
the flags' defaults are the library's, the field's comment is the flag's help, the loss names come from the
loss registry, and every flag these commands had before their flags were derived still parses."""
from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from twinbert.cli.dataclass_flags import field_default, field_help
from twinbert.cli.main import build_parser, main, speak_flags
from twinbert.losses import LOSSES, REGISTRY
from twinbert.recipes import KoreanRecipe
from twinbert.serve import ServeConfig
from twinbert.train import TrainConfig
from twinbert.train.sentence import TrainSpec

# each command's flags before they were derived (from its --help then); all of them must keep working
FLAGS_BEFORE = {
    "serve": "--allow-writes --api-key --auto-truncate --backend --calibration --classifier --cors-origin "
             "--cross-encoder --device --graceful-timeout --host --index --max-batch-tokens --max-client-batch-size "
             "--max-concurrent-requests --max-input-tokens --no-auto-truncate --openai-encoding --payload-limit "
             "--port --precision --quality --request-timeout --reranker --trust-remote-code",
    "recipe": "--alphas --base --data-root --english-nli --json --limit --lr --max-seq-length --nli-batch-size "
              "--no-distill --output --overwrite --resume --retrieval-dev --seed --sts-batch-size --sts-epochs "
              "--sts-losses --sts-tolerance --teacher -o",
    "train": "--batch-size --checkpoint-every --columns --concat-product --config --data --data-root "
             "--decline-warning --device --distance --epochs --eval --eval-every --grad-accum --head-lr --json "
             "--keep-checkpoint --limit --log-every --loss --lr --margin --matryoshka --max-grad-norm "
             "--max-seq-length --max-steps --model --no-length-grouping --no-progress --output --overwrite "
             "--patience --precision --resume --scale --score-range --seed --skip-bad-rows --task --teacher "
             "--trust-remote-code --warmup --weight-decay -m -o",
    "export": "--backend --calibration --json --overwrite --precision --trust-remote-code",
}
# (command, dataclass, fields reached otherwise: how)
SETTINGS = [("serve", ServeConfig, {}), ("recipe", KoreanRecipe, {}), ("train", TrainConfig, {}),
            ("train", TrainSpec, {"split": "--task TASK:SPLIT"})]


def command(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def missing_flags(parser: argparse.ArgumentParser, cls, reached: dict[str, str]) -> list[str]:
    """The fields of `cls` no flag of `parser` sets (but those `reached` another way)."""
    dests = {a.dest for a in parser._actions if a.option_strings}
    return [f.name for f in dataclasses.fields(cls) if f.name not in dests and f.name not in reached]


def test_the_check_finds_a_field_without_a_flag():
    @dataclass
    class Settings:
        port: int = 1
        forgotten: bool = False

    p = argparse.ArgumentParser()
    p.add_argument("--port")
    assert missing_flags(p, Settings, {}) == ["forgotten"]


@pytest.mark.parametrize("name, cls, reached", SETTINGS, ids=[f"{c}-{k.__name__}" for c, k, _ in SETTINGS])
def test_every_setting_has_a_flag_with_the_fields_comment_as_help(name, cls, reached):
    parser = command(name)
    assert missing_flags(parser, cls, reached) == []
    helps, actions = field_help(cls), {a.dest: a for a in parser._actions}
    for f in dataclasses.fields(cls):
        if f.name in helps and f.name in actions and f.name not in ("task", "loss", "data"):  # per-task lists
            assert helps[f.name] in " ".join(actions[f.name].help.split()), f.name


def test_every_export_model_keyword_has_a_flag_with_its_default():
    from twinbert.export import export_model

    actions = {a.dest: a for a in command("export")._actions}
    keywords = [p for p in inspect.signature(export_model).parameters.values() if p.kind is p.KEYWORD_ONLY]
    assert keywords
    for p in keywords:
        assert p.name in actions and actions[p.name].default == p.default, p.name
        assert actions[p.name].help, p.name


def test_export_offers_the_backends_that_write_a_graph_and_their_precisions():
    from twinbert.runtime import backends

    actions = {a.dest: a for a in command("export")._actions}
    assert tuple(actions["backend"].choices) == backends.exported() and len(backends.exported()) >= 2
    offered = set(actions["precision"].choices)
    assert offered == {q for b in backends.exported() for q in backends.get(b).precisions}
    assert "bfloat16 (openvino)" in actions["precision"].help  # written by one graph backend only: named


def test_export_passes_every_flag_to_the_library(monkeypatch, capsys):
    from twinbert.export import export_model

    calls = []

    @functools.wraps(export_model)  # the parser reads export_model's signature
    def fake_export(model, out, **kw):
        calls.append((model, out, kw))
        return {"backend": kw["backend"], "precision": kw["precision"], "int8": 0, "output": out, "files": [],
                "sentence_graph": "g", "max_abs_diff": 0.0}

    monkeypatch.setattr("twinbert.export.export_model", fake_export)
    assert main(["export", "m", "out"]) == 0
    assert calls[-1][2] == {"backend": "onnx", "precision": "float32", "calibration": None, "overwrite": False,
                            "trust_remote_code": False}
    assert main(["export", "m", "out", "--backend", "openvino", "--precision", "int8", "--calibration", "c.txt",
                 "--overwrite", "--trust-remote-code"]) == 0
    assert calls[-1][2] == {"backend": "openvino", "precision": "int8", "calibration": "c.txt", "overwrite": True,
                            "trust_remote_code": True}
    capsys.readouterr()


@pytest.mark.parametrize("name", sorted(FLAGS_BEFORE))
def test_every_flag_of_before_still_parses(name):
    known = {s for a in command(name)._actions for s in a.option_strings}
    assert set(FLAGS_BEFORE[name].split()) <= known


def test_serve_defaults_are_serve_configs_and_the_flags_reach_it(monkeypatch, tmp_path):
    for env in ("TWINBERT_API_KEY", "TWINBERT_OPENAI_ENCODING"):
        monkeypatch.delenv(env, raising=False)
    actions = {a.dest: a for a in command("serve")._actions}
    assert all(actions[f.name].default == field_default(f) for f in dataclasses.fields(ServeConfig))
    calls = []
    monkeypatch.setattr("twinbert.serve.serve", lambda models, config, **kw: calls.append((models, config, kw)))
    assert main(["serve", "m"]) == 0 and calls[-1][1] == ServeConfig() and calls[-1][2]["auto_truncate"] is True
    monkeypatch.setenv("TWINBERT_API_KEY", "k3y")
    assert main(["serve", "m", "n", "--port", "9000", "--cors-origin", "https://a.org", "--cors-origin", "*",
                 "--allow-writes", "--request-timeout", "2.5", "--max-input-tokens", "64", "--no-auto-truncate"]) == 0
    models, config, kw = calls[-1]
    assert models == ["m", "n"] and kw["auto_truncate"] is False
    assert config == ServeConfig(port=9000, cors_origins=("https://a.org", "*"), allow_writes=True,
                                 request_timeout=2.5, max_input_tokens=64, api_key="k3y")


def test_recipe_defaults_are_korean_recipes_and_every_setting_reaches_it(monkeypatch, capsys):
    actions = {a.dest: a for a in command("recipe")._actions}
    assert all(actions[f.name].default == field_default(f) for f in dataclasses.fields(KoreanRecipe))
    got = []

    def fake_run(output, recipe, **kw):
        got.append(recipe)
        return {"stages": {}, "chosen": "nli", "scores": {}}

    monkeypatch.setattr("twinbert.recipes.run_korean_recipe", fake_run)
    assert main(["recipe", "korean", "-o", "run"]) == 0 and got[-1] == KoreanRecipe()
    assert main(["recipe", "korean", "-o", "run", "--nli-epochs", "2", "--evals-per-epoch", "5", "--no-distill",
                 "--alphas", "0,0.5", "--english-nli", "", "--sts-losses", "cosine", "--lr", "1e-4",
                 "--limit", "8"]) == 0
    assert got[-1] == KoreanRecipe(nli_epochs=2, evals_per_epoch=5, distill=False, alphas=(0.0, 0.5),
                                   english_nli=(), sts_losses=("cosine",), lr=1e-4, limit=8)
    capsys.readouterr()


def test_train_flags_become_the_specs_and_the_config():
    from twinbert.cli.train import build_run

    parser = command("train")
    plan = build_run(parser.parse_args(["--task", "stsb", "--loss", "cosine", "-o", "out"]))
    assert plan["specs"] == [TrainSpec("stsb", "cosine")] and plan["config"] == TrainConfig()
    plan = build_run(parser.parse_args(["--task", "nli:dev", "--data", "f.tsv", "--loss", "softmax",
                                        "--concat-product", "--matryoshka", "16,8", "--margin", "0.3",
                                        "--columns", "a,b", "--limit", "5", "--no-keep-checkpoint",
                                        "--no-length-grouping", "-o", "out"]))
    assert plan["specs"] == [TrainSpec("nli", "softmax", split="dev", data="f.tsv", concat_product=True,
                                       matryoshka=[16, 8], margin=0.3, columns="a,b", limit=5)]
    assert plan["config"] == TrainConfig(length_grouped=False, keep_checkpoint=False)


def test_loss_names_and_help_come_from_the_registry():
    assert {cls.name: cls.summary for cls in REGISTRY} == LOSSES and all(LOSSES.values())
    assert {cls.label_kind for cls in REGISTRY} <= {"score", "class", "binary", "vector", None}
    parser = command("train")
    loss = next(a for a in parser._actions if a.dest == "loss")
    assert all(name in loss.help for name in LOSSES)
    assert all(f"{name}: {summary}" in " ".join(parser.description.split()) for name, summary in LOSSES.items())


def test_a_library_error_names_the_setting_not_its_off_switch():
    assert speak_flags("allow_writes=True needs an index to write to", "allow_writes", command("serve")) == \
        "--allow-writes needs an index to write to"
    assert speak_flags("distill is off", "distill", command("recipe")) == "--distill is off"


def test_the_trainer_asks_a_loss_its_label_kind_not_its_name(monkeypatch, tmp_path):
    """A loss registered under a new name, with label kind "vector" (distillation) or "class" (a classifier
    head), gets what those kinds need: a teacher, and its classifier saved beside the model."""
    import twinbert.losses as losses
    from twinbert.errors import InputError
    from twinbert.losses import Loss
    from twinbert.train import sentence

    class Imitate(Loss):
        name, summary, columns, label_kind = "imitate", "imitates a teacher", (1, 2), "vector"

    monkeypatch.setattr(losses, "REGISTRY", (*REGISTRY, Imitate))
    monkeypatch.setattr(losses, "LOSSES", {**LOSSES, "imitate": Imitate.summary})
    data = tmp_path / "pairs.tsv"
    data.write_text("sentence1\tsentence2\tscore\n" + "a cat sat\ta cat is sitting\t4.0\n" * 4, encoding="utf-8")
    with pytest.raises(InputError, match="loss 'imitate' \\(distillation\\) needs teacher"):
        sentence.train_sentence_encoder("unused", [TrainSpec("sts", "imitate", data=str(data))], TrainConfig(),
                                        tmp_path / "out")
    scored = SimpleNamespace(loss_fn=SimpleNamespace(name="softmax", label_kind="score"), label_names=["x"])
    classes = SimpleNamespace(loss_fn=SimpleNamespace(name="my-classifier", label_kind="class"),
                              label_names=["no", "yes"])
    assert sentence._softmax_head([scored, classes]) == (classes, ["no", "yes"])
