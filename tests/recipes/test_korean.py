"""The Korean recipe on a tiny model and the first rows of the real data files: every stage runs, the
choice follows KorSTS dev alone, held-out splits are never trained on, finished stages are not run again,
and the folders a user had are never taken over."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from conftest import DATA, build_tiny_bert, build_tiny_unigram

import twinbert
from twinbert.cli.main import main
from twinbert.errors import InputError, OutputError
from twinbert.evaluate.run import run_eval
from twinbert.recipes import KoreanRecipe, run_korean_recipe

LINE_FILES = ["korsts/sts-train.tsv", "korsts/sts-dev.tsv", "korsts/sts-test.tsv", "stsb/sts-train.csv",
              "stsb/sts-dev.csv", "stsb/sts-test.csv", "kornli/xnli.dev.ko.tsv", "kornli/xnli.test.ko.tsv",
              "snli/snli_1.0_dev.csv"]
JSON_FILES = ["klue/klue-nli-v1.1_dev.json", "klue/klue-sts-v1.1_dev.json"]
KORQUAD = "korquad/KorQuAD_v1.0_dev.json"
STAGES = ["base", "nli", "sts-cosent", "sts-cosine", "distill", "interpolate", "report"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """The first rows of each file the recipe reads (KorSTS and STS-B rows still align)."""
    root = tmp_path_factory.mktemp("data")
    for name in LINE_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        lines = (DATA / name).read_text(encoding="utf-8").splitlines(keepends=True)
        rows = 60 if name.startswith("stsb/") else 61  # STS-B files have no header line
        (root / name).write_text("".join(lines[:rows]), encoding="utf-8")
    for name in JSON_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        rows = json.loads((DATA / name).read_text(encoding="utf-8"))[:60]
        (root / name).write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    korquad = json.loads((DATA / KORQUAD).read_text(encoding="utf-8"))  # 6 articles, 3 paragraphs each
    korquad["data"] = [{**a, "paragraphs": a["paragraphs"][:3]} for a in korquad["data"][:6]]
    (root / KORQUAD).parent.mkdir(parents=True)
    (root / KORQUAD).write_text(json.dumps(korquad, ensure_ascii=False), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[Path, Path]:
    """(a tiny Unigram base model, a tiny teacher of the same dimension)."""
    folder = tmp_path_factory.mktemp("models")
    return build_tiny_unigram(folder / "base"), build_tiny_bert(folder / "teacher", seed=3)


def recipe(models, **changes) -> KoreanRecipe:
    base, teacher = models
    settings = {"base": str(base), "teacher": str(teacher), "english_nli": ("snli:dev",), "nli_batch_size": 4,
                "sts_batch_size": 8, "max_seq_length": 32, "evals_per_epoch": 2, "alphas": ()}
    return KoreanRecipe(**{**settings, **changes})


def test_cli_runs_every_stage_and_chooses_by_korsts_dev(tmp_path, data_root, models, capsys):
    base, teacher = models
    out = tmp_path / "run"
    code = main(["recipe", "korean", "--output", str(out), "--base", str(base), "--teacher", str(teacher),
                 "--english-nli", "snli:dev", "--nli-batch-size", "4", "--sts-batch-size", "8",
                 "--max-seq-length", "32", "--alphas", "0,0.5", "--sts-tolerance", "0.01",
                 "--data-root", str(data_root), "--json"])
    assert code == 0
    record = json.loads(capsys.readouterr().out)
    assert record == json.loads((out / "recipe.json").read_text(encoding="utf-8"))
    assert list(record["stages"]) == STAGES and all(s["status"] == "done" for s in record["stages"].values())
    dev = {name: record["stages"][name]["dev"] for name in STAGES[2:5]}
    best_sts = max(("sts-cosent", "sts-cosine"), key=dev.get)
    mix = record["stages"]["interpolate"]
    assert mix["from"] == ("distill" if dev["distill"] >= dev[best_sts] else best_sts)
    # the interpolation: a = 1 always scored; the best retrieval among those within the KorSTS tolerance
    assert record["chosen"] == "interpolate" and set(mix["candidates"]) == {"0.0", "0.5", "1.0"}
    allowed = {a: c for a, c in mix["candidates"].items() if c["dev"] >= mix["candidates"]["1.0"]["dev"] - 0.01}
    assert mix["alpha"] == float(max(allowed, key=lambda a: (allowed[a]["retrieval_dev"], float(a))))
    base_model = twinbert.load(str(out / "stages" / "base"), backend="torch")  # as the interpolation runs
    assert mix["candidates"]["0.0"]["dev"] == pytest.approx(
        run_eval(base_model, "korsts", "dev", data_root=data_root)["metrics"]["spearman_cosine"], abs=1e-6)
    # each candidate's dev score is its best checkpoint's, as written in its own training log
    for name in STAGES[1:5]:
        log = [json.loads(line) for line in (out / "stages" / name / "train_log.jsonl").read_text().splitlines()]
        evals = [row["metrics"]["spearman_cosine"] for row in log if row["event"] == "eval"]
        assert record["stages"][name]["dev"] == pytest.approx(max(evals))
    # the published model is the chosen one with float16 weights, and its reported scores are its own
    published, chosen = twinbert.load(str(out / "model")), twinbert.load(str(out / "stages" / record["chosen"]))
    stored = safetensors.torch.load_file(str(out / "model" / "model.safetensors"))
    assert {t.dtype for t in stored.values()} == {torch.float16}
    texts = ["한 남자가 기타를 치고 있다.", "A man is playing a guitar."]
    a, b = published.encode(texts, normalize=True), chosen.encode(texts, normalize=True)
    assert (a * b).sum(1).min() > 0.999 and not np.array_equal(a, b)
    # trained at 32 tokens, published at the base's inference length, with a tokenizer transformers 4 reads
    assert base_model.max_seq_length == 64 and published.max_seq_length == 64
    config = json.loads((out / "model" / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast" and config["model_max_length"] == 64
    assert "twinbert recipe korean --output DIR" in (out / "model" / "README.md").read_text(encoding="utf-8")
    assert set(record["scores"]) == {"korsts:test", "klue-sts:dev", "stsb:test", "korsts:dev", "korquad:test",
                                     "korquad:dev"}
    again = run_eval(published, "korsts", "test", data_root=data_root)
    assert record["scores"]["korsts:test"] == pytest.approx(again["metrics"]["spearman_cosine"], abs=1e-6)
    # the base stage trimmed the vocabulary; nothing trained on a held-out split
    assert record["stages"]["base"]["parameters"] < record["stages"]["base"]["parameters_before"]
    for name in STAGES[1:5]:
        card = (out / "stages" / name / "README.md").read_text(encoding="utf-8")
        training = card.split("## Data files", 1)[1]
        for held_out in ("sts-test", "klue-sts", "stsb/sts-dev"):
            assert held_out not in training, (name, held_out)
        # training and evaluation data both come from the data root given (not the default one)
        files = [line.split("`")[1] for line in training.splitlines() if line.startswith("|") and line.count("`") >= 2]
        assert files and all(f.startswith((str(data_root), str(out))) for f in files), (name, files)


def test_resume_skips_finished_stages(tmp_path, data_root, models, monkeypatch):
    from twinbert.recipes import korean

    out = tmp_path / "run"
    settings = recipe(models, sts_losses=("cosent",), distill=False)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(korean, "_report", killed)
    with pytest.raises(KeyboardInterrupt):
        run_korean_recipe(out, settings, data_root=data_root, show_progress=False)
    monkeypatch.undo()
    done = json.loads((out / "recipe.json").read_text(encoding="utf-8"))
    assert list(done["stages"]) == ["base", "nli", "sts-cosent"] and done["chosen"] is None
    weights = {s: (out / "stages" / s / "model.safetensors").stat().st_mtime_ns for s in done["stages"]}
    with pytest.raises(OutputError, match="resume"):
        run_korean_recipe(out, settings, data_root=data_root, show_progress=False)
    with pytest.raises(InputError, match="seed"):
        run_korean_recipe(out, recipe(models, sts_losses=("cosent",), distill=False, seed=7), data_root=data_root,
                          resume=True, show_progress=False)
    record = run_korean_recipe(out, settings, data_root=data_root, resume=True, show_progress=False)
    assert record["chosen"] == "sts-cosent" and record["stages"]["report"]["status"] == "done"
    for stage, mtime in weights.items():  # not trained or saved again
        assert (out / "stages" / stage / "model.safetensors").stat().st_mtime_ns == mtime
        assert record["stages"][stage] == done["stages"][stage]
    # a resume may add a candidate: only that one runs, and the choice and report follow the dev scores
    more = run_korean_recipe(out, recipe(models, sts_losses=("cosent", "cosine"), distill=False),
                             data_root=data_root, resume=True, show_progress=False)
    dev = {s: more["stages"][s]["dev"] for s in ("sts-cosent", "sts-cosine")}
    assert more["chosen"] == max(dev, key=dev.get) == more["stages"]["report"]["chosen"]
    for stage, mtime in weights.items():
        assert (out / "stages" / stage / "model.safetensors").stat().st_mtime_ns == mtime


def test_a_stage_killed_before_its_first_checkpoint_starts_again(tmp_path, data_root, models):
    out = tmp_path / "run"
    settings = recipe(models, sts_losses=("cosine",), distill=False)
    run_korean_recipe(out, settings, data_root=data_root, show_progress=False)
    record = json.loads((out / "recipe.json").read_text(encoding="utf-8"))
    del record["stages"]["sts-cosine"], record["stages"]["report"]
    (out / "recipe.json").write_text(json.dumps(record), encoding="utf-8")
    for name in ("model.safetensors", "README.md"):  # a half-written stage folder without a checkpoint
        (out / "stages" / "sts-cosine" / name).unlink()
    again = run_korean_recipe(out, settings, data_root=data_root, resume=True, show_progress=False)
    assert again["stages"]["sts-cosine"]["status"] == "done"
    assert (out / "stages" / "sts-cosine" / "model.safetensors").is_file()


def test_folders_the_user_had_are_never_taken_over(tmp_path, data_root, models):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(OutputError, match="not a recipe run"):
        run_korean_recipe(mine, recipe(models), data_root=data_root, show_progress=False)
    assert (mine / "notes.txt").read_text(encoding="utf-8") == "keep me" and len(list(mine.iterdir())) == 1
    # over a recipe run, overwrite removes only what a recipe run writes
    out = tmp_path / "run"
    run_korean_recipe(out, recipe(models, sts_losses=("cosine",), distill=False), data_root=data_root,
                      show_progress=False)
    (out / "notes.txt").write_text("mine too", encoding="utf-8")
    record = run_korean_recipe(out, recipe(models, sts_losses=("cosent",), distill=False), data_root=data_root,
                               overwrite=True, show_progress=False)
    assert record["chosen"] == "sts-cosent" and not (out / "stages" / "sts-cosine").exists()
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine too"


@pytest.mark.parametrize("changes, argument", [({"sts_losses": ()}, "sts_losses"),
                                               ({"sts_losses": ("mnrl",)}, "sts_losses"),
                                               ({"english_nli": ("snli",)}, "english_nli"),
                                               ({"nli_batch_size": 0}, "nli_batch_size")])
def test_bad_settings_name_the_setting(tmp_path, models, changes, argument):
    with pytest.raises(InputError) as error:
        run_korean_recipe(tmp_path / "run", recipe(models, **changes))
    assert error.value.argument == argument and not (tmp_path / "run").exists()
