"""Training runs, issue #11: a resume continues only the run it belongs to (same model, data, losses,
labels), a killed run's temps are never results, the log and card say what this process ran, labels
are declared or clean, and library messages name Python arguments (the CLI turns them into flags)."""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from conftest import VOCAB

import twinbert
from twinbert.bert import train_classifier, train_cross_encoder
from twinbert.bert.classifier import labelled_texts
from twinbert.bert.cross_encoder import pair_targets
from twinbert.bert.mlm import train_masked_lm
from twinbert.data import PairExample, TextExample, read_labelled_texts, read_pairs
from twinbert.data.spec import read_spec
from twinbert.errors import InputError, OutputError
from twinbert.train import checkpoint
from twinbert.train.loop import TrainConfig
from twinbert.train.output import read_log
from twinbert.train.sentence import TrainSpec, read_training_data, train_sentence_encoder

WORDS = VOCAB[5:]


def sts_file(path: Path, rows: int = 16, seed: int = 0) -> Path:
    rng = random.Random(seed)
    lines = ["sentence1\tsentence2\tscore"]
    for _ in range(rows):
        a, b = rng.sample(WORDS, 3), rng.sample(WORDS, 3)
        lines.append(f"{' '.join(a)}\t{' '.join(b)}\t{5 * len(set(a) & set(b)) / 3:.3f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def labelled_file(path: Path, labels: list[str], header: str = "text\tlabel") -> Path:
    rows = [f"{' '.join(WORDS[k:k + 3])}\t{label}" for k, label in enumerate(labels)]
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def config(**kw) -> TrainConfig:
    # 16 rows / batch 8 = 2 steps an epoch, 6 in all; the first run stops at 2 and keeps its checkpoint
    return TrainConfig(**{"epochs": 3, "batch_size": 8, "keep_checkpoint": True, "log_every": 1, **kw})


def train(model, data, out, resume=False, **kw):
    spec = {"task": "sts", "loss": "cosine", "data": str(data), **kw.pop("spec", {})}
    return train_sentence_encoder(str(model), [TrainSpec(**spec)], config(**kw), out, resume=resume,
                                  show_progress=False)


@pytest.fixture(scope="module")
def run(tiny_bert, tmp_path_factory):
    """A run stopped at step 2 of 6 with its checkpoint: the state a killed run leaves behind."""
    root = tmp_path_factory.mktemp("run")
    data, other = sts_file(root / "a.tsv"), sts_file(root / "b.tsv", seed=1)
    train(tiny_bert, data, root / "out", max_steps=2)
    return {"root": root, "tiny": tiny_bert, "data": data, "other": other, "out": root / "out"}


def refused(run, **kw) -> InputError:
    state = (run["out"] / "checkpoint" / "state.pt").read_bytes()
    with pytest.raises(InputError) as e:
        train(kw.pop("model", run["tiny"]), kw.pop("data", run["data"]), run["out"], resume=True, max_steps=4, **kw)
    assert e.value.argument == "resume" and "--" not in str(e.value)
    assert (run["out"] / "checkpoint" / "state.pt").read_bytes() == state  # nothing changed
    return e.value


# ------------------------------------------------------------------ item 6: what a resume continues
def test_resume_with_another_data_file_is_refused_naming_both(run):
    message = str(refused(run, data=run["other"]))
    assert (f"training data was {run['data'].resolve()} in the interrupted run but is {run['other'].resolve()} now"
            in message)


def test_resume_after_the_data_file_changed_is_refused(run, tmp_path):
    data = shutil.copy(run["data"], tmp_path / "a.tsv")
    out = tmp_path / "out"
    train(run["tiny"], data, out, max_steps=2)
    sts_file(Path(data), seed=7)  # same path, other content
    with pytest.raises(InputError, match=r"training data .*a.tsv changed since the interrupted run \(sha256 "):
        train(run["tiny"], data, out, resume=True)


def test_resume_on_other_rows_of_the_same_file_is_refused(run):
    message = str(refused(run, spec={"limit": 12}))
    assert "gives other rows than in the interrupted run (16 rows" in message and "12 rows" in message


def test_resume_with_another_loss_or_model_is_refused(run, tmp_path):
    assert "losses 1: loss was 'cosine' in the interrupted run but is 'cosent' now" in str(
        refused(run, spec={"loss": "cosent"}))
    other = shutil.copytree(run["tiny"], tmp_path / "other-model")
    assert f"model was '{run['tiny'].resolve()}' in the interrupted run but is '{other.resolve()}'" in str(
        refused(run, model=other))


def test_head_trainings_resume_only_their_own_run(run, tmp_path):
    """Classifier, cross-encoder and masked LM store what they train too."""
    tiny, cfg = run["tiny"], config(max_steps=1)
    texts = labelled_file(tmp_path / "t.tsv", ["neg", "pos"] * 4)
    train_classifier(str(tiny), read_labelled_texts(texts), cfg, tmp_path / "clf", device="cpu", show_progress=False)
    with pytest.raises(InputError, match="labels was \\['neg', 'pos'\\] in the interrupted run but is \\['pos', "):
        train_classifier(str(tiny), read_labelled_texts(texts), cfg, tmp_path / "clf", labels=["pos", "neg"], resume=True,
                         device="cpu", show_progress=False)
    pairs = read_pairs(run["data"], ["sentence1", "sentence2", "score"], score_range=(0, 5))
    train_cross_encoder(str(tiny), pairs, cfg, tmp_path / "ce", device="cpu", show_progress=False)
    with pytest.raises(InputError, match="loss was 'bce' in the interrupted run but is 'mse' now"):
        train_cross_encoder(str(tiny), pairs, cfg, tmp_path / "ce", loss="mse", resume=True, device="cpu",
                            show_progress=False)
    train_masked_lm(str(tiny), ["the cat sat", "a dog ran"] * 8, cfg, tmp_path / "mlm", device="cpu",
                    show_progress=False)
    with pytest.raises(InputError, match="training data examples gives other rows"):
        train_masked_lm(str(tiny), ["the cat sat"] * 16, cfg, tmp_path / "mlm", resume=True, device="cpu",
                        show_progress=False)


def test_the_card_names_every_data_file_with_its_sha256(run, tmp_path):
    import hashlib

    card = (run["out"] / "README.md").read_text()
    assert f"`{run['data'].resolve()}`" in card and hashlib.sha256(run["data"].read_bytes()).hexdigest() in card
    train_file, dev_file = (labelled_file(tmp_path / f"{n}.tsv", ["neg", "pos"] * 4) for n in ("train", "dev"))
    train_classifier(str(run["tiny"]), read_labelled_texts(train_file), config(max_steps=1), tmp_path / "clf",
                     eval_data=[read_labelled_texts(dev_file)], device="cpu", show_progress=False)
    card = (tmp_path / "clf" / "README.md").read_text()
    for role, f in (("train", train_file), ("eval", dev_file)):
        assert f"| {role} | " in card and f"`{f.resolve()}` | {hashlib.sha256(f.read_bytes()).hexdigest()}" in card


# ------------------------------------------------------------------ temps of a killed run
def plant(out: Path, visible: bool = True) -> dict:
    """What a run killed mid-write leaves (names as formats/atomic.py makes them), and a user's files."""
    temps = {".checkpoint.tmp-0123abcd": "dir", ".best-model.tmp-89abcdef": "dir", ".README.md.0badc0de.tmp": "file",
             ".model.safetensors.tmp-00ff00ff": "file", ".train_log.jsonl.12345678.tmp": "file"}
    for name, kind in temps.items():
        if kind == "dir":
            (out / name).mkdir()
            (out / name / "state.pt").write_bytes(b"half a checkpoint")  # would crash a load
        else:
            (out / name).write_text("half")
    if visible:  # a fresh run refuses a folder with the user's files unless overwrite=True
        (out / "notes.txt").write_text("mine")
    (out / ".my-settings").write_text("mine too")
    return temps


def test_a_resume_removes_a_killed_runs_temps_and_never_loads_one(run, tmp_path):
    out = shutil.copytree(run["out"], tmp_path / "out")
    temps = plant(out)
    result = train(run["tiny"], run["data"], out, resume=True, max_steps=4)
    assert result.steps == 4
    assert not [n for n in temps if (out / n).exists()]
    assert (out / "notes.txt").read_text() == "mine" and (out / ".my-settings").read_text() == "mine too"


def test_a_complete_checkpoint_under_a_temp_name_is_not_resumed_from(run, tmp_path):
    out = shutil.copytree(run["out"], tmp_path / "out")
    (out / "checkpoint").rename(out / ".checkpoint.tmp-0123abcd")  # e.g. killed before its rename
    with pytest.raises(InputError, match="there is no checkpoint to continue"):
        train(run["tiny"], run["data"], out, resume=True, max_steps=4)
    assert not (out / ".checkpoint.tmp-0123abcd").exists()


def test_a_checkpoint_moved_aside_by_a_killed_swap_is_put_back(run, tmp_path):
    out = shutil.copytree(run["out"], tmp_path / "out")
    (out / "checkpoint").rename(out / ".checkpoint.old-0123abcd")  # killed between atomic_folder's renames
    assert train(run["tiny"], run["data"], out, resume=True, max_steps=4).resumed_at == 2


def test_a_fresh_run_removes_temps_too(run, tmp_path):
    out = tmp_path / "fresh"
    out.mkdir()
    temps = plant(out, visible=False)
    train(run["tiny"], run["data"], out, max_steps=1, keep_checkpoint=False)
    assert not [n for n in temps if (out / n).exists()] and (out / ".my-settings").exists()


# ------------------------------------------------------------------ an honest log and card
def test_a_resumed_run_reports_the_steps_it_ran(run, tmp_path):
    out = shutil.copytree(run["out"], tmp_path / "out")
    result = train(run["tiny"], run["data"], out, resume=True, max_steps=5)
    assert (result.steps, result.total_steps, result.resumed_at, result.steps_run) == (5, 5, 2, 3)
    rows = read_log(out / "train_log.jsonl")
    assert {"event": "resume", "step": 2, "total_steps": 5} in rows
    assert rows[-1]["event"] == "end" and rows[-1]["resumed_at"] == 2 and rows[-1]["steps_run"] == 3
    assert [r["step"] for r in rows if r["event"] == "train"] == [1, 2, 3, 4, 5]
    card = (out / "README.md").read_text()
    assert "Steps: 5 of 5" in card and "Resumed at step 2 of 5; ran 3 steps in this run" in card
    fresh = (run["out"] / "README.md").read_text()
    assert "Steps: 2 of 2" in fresh and "Resumed" not in fresh


# ------------------------------------------------------------------ item 11: labels
@pytest.mark.parametrize("label, problem", [
    ("nan", "field 'label': is 'nan', a missing-value marker"),
    ("NaN", "field 'label': is 'NaN', a missing-value marker"),
    ("", "field 'label': is empty"),
    ("NULL", "field 'label': is 'NULL', a missing-value marker"),
    (" pos", "field 'label': ' pos' has spaces around it"),
])
def test_an_unclean_label_is_an_error_with_its_line(tmp_path, label, problem):
    path = labelled_file(tmp_path / "t.tsv", ["neg", "pos", label, "neg"])
    with pytest.raises(InputError, match=f"t.tsv, line 4, {problem}") as e:
        read_labelled_texts(path)
    assert "expected a class label" in str(e.value) or "without them" in str(e.value)
    with pytest.raises(InputError, match="line 4"):
        read_spec(str(path), "classification")
    pairs = tmp_path / "p.tsv"
    pairs.write_text("sentence1\tsentence2\tlabel\na\tb\tyes\nc\td\tno\ne\tf\t" + label + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="p.tsv, line 4"):
        read_spec(str(pairs), "labelled-pairs")


def test_declared_labels_decide_what_is_a_class(tmp_path):
    path = labelled_file(tmp_path / "t.tsv", ["neg", "nan", "pos"])
    assert read_labelled_texts(path, labels=["neg", "pos", "nan"]).labels == ["neg", "pos", "nan"]  # declared: a class
    with pytest.raises(InputError, match="t.tsv, line 4, field 'label': 'pos' is not a known label; expected one "
                                         "of neg, nan"):
        read_spec(str(path), "classification", labels="neg,nan")


def test_training_labels_declared_or_clean_in_the_library(tiny_bert, tmp_path):
    examples = [TextExample("the cat", "neg"), TextExample("a dog", float("nan")), TextExample("i love", "pos")]
    with pytest.raises(InputError, match=r"training data: example 2 \('a dog'\) has label nan \(float\)"):
        labelled_texts(examples, "training data")
    examples[1] = TextExample("a dog", "nan")
    with pytest.raises(InputError, match=r"example 2 \('a dog'\), field 'label': is 'nan', a missing-value marker"):
        train_classifier(str(tiny_bert), examples, TrainConfig(), tmp_path / "x", device="cpu")
    with pytest.raises(InputError, match=r"example 2 \('a dog'\), field 'label': 'nan' is not a known label"):
        train_classifier(str(tiny_bert), examples, TrainConfig(), tmp_path / "x", labels=["pos", "neg"], device="cpu")
    with pytest.raises(InputError, match="labels 'pos': 1 given; expected two or more distinct label names") as e:
        train_classifier(str(tiny_bert), examples, TrainConfig(), tmp_path / "x", labels=["pos"], device="cpu")
    assert e.value.argument == "labels" and not (tmp_path / "x").exists()
    with pytest.raises(InputError, match=r"example 3, field 'label': is '', a|example 3, field 'label': is empty"):
        pair_targets([PairExample("a", "b", label="yes"), PairExample("c", "d", label="no"),
                      PairExample("e", "f", label="")], what="pairs")
    with pytest.raises(InputError, match="scored pairs, but labels \\['a', 'b'\\] were declared") as e:
        pair_targets([PairExample("a", "b", 1.0)], (0, 5), "pairs", ["a", "b"])
    assert e.value.argument == "labels"


def test_declared_labels_set_the_heads_order(tiny_bert, tmp_path):
    data = [TextExample(" ".join(WORDS[k:k + 2]), "pos" if k % 2 else "neg") for k in range(8)]
    train_classifier(str(tiny_bert), data, TrainConfig(max_steps=1), tmp_path / "clf", labels=["pos", "neg"],
                     device="cpu", show_progress=False)
    assert json.loads((tmp_path / "clf" / "config.json").read_text())["id2label"] == {"0": "pos", "1": "neg"}
    nli = [PairExample(WORDS[k], WORDS[k + 1], label=["no", "yes"][k % 2]) for k in range(8)]
    train_cross_encoder(str(tiny_bert), nli, TrainConfig(max_steps=1), tmp_path / "ce", labels=["yes", "no"],
                        device="cpu", show_progress=False)
    assert twinbert.bert.CrossEncoder.load(tmp_path / "ce", device="cpu").labels == ["yes", "no"]


# ------------------------------------------------------------------ library messages name Python arguments
def _raises(call):
    with pytest.raises((InputError, OutputError)) as e:
        call()
    return e.value


@pytest.mark.parametrize("name, argument", [
    ("loss", "loss"), ("matryoshka", "matryoshka"), ("distance", "distance"), ("task", "task"),
    ("data", "data"), ("limit", "limit"), ("teacher", "teacher"), ("load_task", "task"), ("load_eval", "eval"),
    ("load_columns", "columns"), ("eval_data", "data"), ("eval_split", "split"), ("eval_fixed", "columns"),
    ("eval_range", "score_range"), ("eval_threshold", "threshold_split"), ("eval_output", "output"),
    ("no_checkpoint", "resume"), ("config", "epochs"), ("score_range", "score_range"), ("shape", "loss"),
])
def test_library_messages_name_the_python_argument(tiny_bert, tmp_path, name, argument):
    from twinbert.evaluate.run import prepare, run_eval
    from twinbert.losses import CosineSimilarityLoss, build_loss, loss_name
    from twinbert.train import data as train_data

    sts = sts_file(tmp_path / "s.tsv")
    scored = [PairExample("a", "b", 9.0)]
    calls = {
        "loss": lambda: loss_name("hinge"),
        "matryoshka": lambda: build_loss("cosine", dimension=4, matryoshka=[8]),
        "distance": lambda: build_loss("triplet", dimension=4, distance="far"),
        "task": lambda: read_training_data(TrainSpec("nope", "cosine")),
        "data": lambda: read_training_data(TrainSpec("sts", "cosine")),
        "limit": lambda: read_training_data(TrainSpec("sts", "cosine", data=str(sts), limit=0)),
        "teacher": lambda: train_sentence_encoder(str(tiny_bert), [TrainSpec("sts", "mse", data=str(sts))],
                                                  TrainConfig(), tmp_path / "x"),
        "load_task": lambda: read_spec("nope.tsv", "classification"),
        "load_eval": lambda: read_spec("nope.tsv", "classification", argument="eval"),
        "load_columns": lambda: read_spec(str(sts), "classification", columns="sentence1"),
        "eval_data": lambda: prepare("sts"),
        "eval_split": lambda: prepare("sts", "dev", data=str(sts)),
        "eval_fixed": lambda: prepare("stsb", columns="a,b"),
        "eval_range": lambda: prepare("sts", data=str(sts), score_range="5,0"),
        "eval_threshold": lambda: prepare("sts", data=str(sts), threshold_split="dev"),
        "eval_output": lambda: run_eval(tiny_bert, "sts", data=str(sts), output=tmp_path),
        "no_checkpoint": lambda: checkpoint.load(tmp_path, "cpu"),
        "config": lambda: TrainConfig(epochs=0).check(),
        "score_range": lambda: train_data.prepare(scored, CosineSimilarityLoss()),
        "shape": lambda: train_data.prepare(scored, build_loss("triplet", dimension=4)),
    }
    error = _raises(calls[name])
    assert error.argument == argument and "--" not in str(error), str(error)
    assert argument.split("_")[0] in str(error)
