"""twinbert train: fine-tune a sentence encoder (Siamese / triplet objectives) with flags or a config file."""
from __future__ import annotations

from ..errors import InputError
from .dataclass_flags import add_flags
from .trainer_args import add_trainer_args, report

# TrainSpec's fields given once per --task, as lists (split rides on the task: --task TASK:SPLIT); every
# other field of TrainSpec is a flag derived from it that applies to each dataset
PER_TASK = ("task", "loss", "split", "data")


def register(sub) -> None:
    from ..losses import LOSSES
    from ..train.sentence import TrainSpec

    p = sub.add_parser("train", help="fine-tune a sentence encoder on NLI / STS / triplet data",
                       description="Fine-tune a sentence encoder. Several --task/--loss pairs train together "
                                   "(round robin). Losses: " + "; ".join(f"{k}: {v}" for k, v in LOSSES.items()))
    p.add_argument("--config", help="TOML or YAML file with the same settings (flags given here win)")
    p.add_argument("--model", "-m", help="model folder or name to start from (default: all-MiniLM-L6-v2)")
    p.add_argument("--task", action="append", help="training data: a registered task (stsb, sick-nli, korsts ...), "
                   "TASK:SPLIT (default split train), or sts|pairs|triplets|nli|texts with --data FILE; repeatable")
    p.add_argument("--loss", action="append", help="loss for each --task (one --loss applies to all): "
                   + ", ".join(LOSSES) + " (see above)")
    p.add_argument("--data", action="append", help="file of a --task (generic tasks need one)")
    add_flags(p, TrainSpec, exclude=PER_TASK, unset=True)
    p.add_argument("--teacher", help="teacher model for --loss mse (distillation)")
    p.add_argument("--eval", action="append", help="dev data TASK:SPLIT, e.g. stsb:dev (the first gives the main "
                   "metric); repeatable")
    p.add_argument("--max-seq-length", type=int,
                   help="truncate training texts to N tokens (the saved model keeps its own inference length)")
    p.add_argument("--skip-bad-rows", action="store_true", default=None,
                   help="leave out unreadable rows of a data file (each recorded with its line and reason)")
    add_trainer_args(p, config_file=True, head_lr=True)
    p.set_defaults(run=run)


def _listify(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def build_run(args) -> dict:
    """Merge the config file and the flags (flags win) into the arguments of train_sentence_encoder."""
    from ..formats.resolve import DEFAULT_MODEL
    from ..losses import LOSSES
    from ..train.config import CONFIG_KEYS, SPEC_KEYS, read_config
    from ..train.loop import TrainConfig
    from ..train.sentence import TrainSpec

    file = read_config(args.config) if args.config else {}
    get = lambda key: getattr(args, key, None) if getattr(args, key, None) is not None else file.get(key)  # noqa: E731
    specs = []
    if args.task or "datasets" not in file:
        tasks = args.task or _listify(file.get("task"))
        losses = args.loss or _listify(file.get("loss"))
        datas = args.data or _listify(file.get("data"))
        if not tasks:
            raise InputError("no training data: give --task TASK (e.g. --task stsb --loss cosine)")
        if not losses:
            raise InputError("no loss: give --loss (" + ", ".join(LOSSES) + ")")
        if len(losses) not in (1, len(tasks)):
            raise InputError(f"{len(tasks)} --task but {len(losses)} --loss: give one --loss for all or one per --task")
        if len(datas) > len(tasks):
            raise InputError(f"{len(datas)} --data for {len(tasks)} --task: one file per task at most")
        options = {k: get(k) for k in SPEC_KEYS if k not in ("split", "data")}
        if isinstance(options.get("matryoshka"), str):
            options["matryoshka"] = _ints(options["matryoshka"], "--matryoshka")
        for k, task in enumerate(tasks):
            name, _, split = str(task).partition(":")
            specs.append(TrainSpec(name, losses[k] if len(losses) > 1 else losses[0], split=split or None,
                                   data=datas[k] if k < len(datas) else None,
                                   **{key: v for key, v in options.items() if v is not None}))
    else:
        for entry in _listify(file["datasets"]):  # entries checked by read_config
            name, _, split = str(entry["task"]).partition(":")
            specs.append(TrainSpec(name, entry["loss"], **{**({"split": split} if split else {}),
                                                          **{key: v for key, v in entry.items()
                                                             if key not in ("task", "loss")}}))
    config = TrainConfig(**{k: get(k) for k in CONFIG_KEYS if get(k) is not None})
    if get("length_grouped") is not None:
        config.length_grouped = bool(get("length_grouped"))
    if config.max_grad_norm == 0:
        config.max_grad_norm = None
    output = get("output")
    if not output:
        raise InputError("--output DIR is required: where the model, log, curve and card go")
    return {"model": get("model") or DEFAULT_MODEL, "specs": specs, "config": config, "output": output,
            "evals": [str(e) for e in (args.eval or _listify(file.get("eval")))], "teacher": get("teacher"),
            "resume": bool(get("resume")), "overwrite": bool(get("overwrite")), "device": get("device"), "data_root": get("data_root"),
            "skip_bad_rows": bool(get("skip_bad_rows")), "max_seq_length": get("max_seq_length"),
            "trust_remote_code": bool(args.trust_remote_code)}


def _ints(text: str, flag: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise InputError(f"{flag} {text!r}: expected whole numbers joined by commas, e.g. 384,256,128,64") from None


def run(args) -> int:
    from ..train.sentence import train_sentence_encoder
    from .common import check_device

    plan = build_run(args)
    check_device(plan["device"])
    result = train_sentence_encoder(plan.pop("model"), plan.pop("specs"), plan.pop("config"), plan.pop("output"),
                                    show_progress=not args.no_progress, **plan)
    report(result, args.json)
    return 0
