"""Arguments shared by several commands."""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import unicodedata

from ..formats.resolve import DEFAULT_MODEL  # noqa: F401 (re-exported)


@contextlib.contextmanager
def log_level(level: int):
    """twinbert's log records below ``level`` left out while the block runs (--quiet), then as before."""
    logger = logging.getLogger("twinbert")
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


def positive_int(text: str) -> int:
    """argparse type for counts and sizes (--batch-tokens, --chunk-rows, -k, --top, --limit): 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer (1 or more), got {value}")
    return value


def add_model(parser, positional: bool = False, optional: bool = False, runtime_flag: str = "--backend") -> None:
    """--model (or a positional MODEL), --device, --trust-remote-code and the runtime flags (add_runtime;
    runtime_flag: the name of the backend flag, for a command whose --backend means something else)."""
    if positional:
        parser.add_argument("model", nargs="?" if optional else None,
                            help="model folder or name (e.g. all-MiniLM-L6-v2)")
    else:
        parser.add_argument("--model", "-m", default=DEFAULT_MODEL,
                            help=f"model folder or name (default: {DEFAULT_MODEL})")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    add_runtime(parser, runtime_flag)
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="allow custom model code shipped with the checkpoint (off by default)")


def add_runtime(parser, flag: str = "--backend") -> None:
    """--backend / --precision / --quality / --calibration (twinbert.load's backend, precision, quality,
    calibration; twinbert.runtime.choose decides what "auto" means on this machine)."""
    from ..runtime.choose import BACKENDS, PRECISIONS, QUALITIES

    parser.add_argument(flag, dest="runtime_backend", default="auto", choices=BACKENDS,
                        help="what runs the model: auto (default: the fastest exact backend here), torch, onnx "
                             "(ONNX Runtime) or openvino; training always runs in torch")
    parser.add_argument("--precision", default="float32", choices=PRECISIONS,
                        help="float32 (default, exact), bfloat16, float16 (torch), int8 (onnx/openvino), or "
                             "auto: the fastest precision of --quality on this machine")
    parser.add_argument("--quality", default="exact", choices=QUALITIES,
                        help="for --precision auto: exact (float32), near (bf16 where native) or fast (int8)")
    parser.add_argument("--calibration", default=None, metavar="FILE",
                        help="int8: a text file of your own sentences (one a line) to calibrate on (static int8)")


def calibration_texts(path: str | None) -> list[str] | None:
    """The sentences of --calibration (one a line, blank lines skipped)."""
    if path is None:
        return None
    from ..runtime.quantize import read_calibration

    return read_calibration(path)


def add_encoding(parser) -> None:
    parser.add_argument("--pooling", default=None,
                        help="cls, mean, max, mean_sqrt_len, weighted_mean, last_token, pooler, or several "
                             "joined with '+' (default: the model's)")
    parser.add_argument("--layers", default=None,
                        help="last (default), an index (0 = embeddings, -1 = last), indices joined by "
                             "commas (averaged), or first-last")
    norm = parser.add_mutually_exclusive_group()
    norm.add_argument("--normalize", dest="normalize", action="store_true", default=None,
                      help="L2-normalize the vectors")
    norm.add_argument("--no-normalize", dest="normalize", action="store_false",
                      help="do not normalize, even if the model does")
    parser.add_argument("--batch-tokens", type=positive_int, default=None,
                        help="token budget of one batch (rows x longest row; default 2048)")
    add_prompt(parser)


def add_prompt(parser, default: str = "the model's default prompt, if it has one") -> None:
    """--prompt-name / --prompt (encode()'s prompt_name / prompt)."""
    prompt = parser.add_mutually_exclusive_group()
    prompt.add_argument("--prompt-name", default=None,
                        help=f"one of the model's prompts (e.g. query, passage) put before every text "
                             f"(default: {default})")
    prompt.add_argument("--prompt", default=None,
                        help="a text of your own put before every text (\"\" for none)")


def add_json(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def check_device(device: str | None) -> None:
    """--device as a one-line error rather than torch's traceback (unknown name, no CUDA build/GPU)."""
    from ..device import check_device as check

    check(device)


def load_model(args, name: str | None = None, loader=None):
    """The model of --model (or `name`) with --device, --precision and --trust-remote-code, loaded by
    `loader` (default twinbert.load; e.g. Classifier.load or CrossEncoder.load for the heads)."""
    check_device(args.device)
    runtime = {"backend": getattr(args, "runtime_backend", "auto"), "quality": getattr(args, "quality", "exact"),
               "calibration": calibration_texts(getattr(args, "calibration", None))}
    from ..runtime.backends import is_reference

    if loader is None:
        from .. import load as loader
    elif runtime["backend"] != "auto" and not is_reference(runtime["backend"]) or runtime["calibration"] is not None:
        from ..errors import InputError

        raise InputError("--backend and --calibration are for sentence encoders; this command runs in torch",
                         argument="backend")
    else:
        runtime = {}
    return loader(name or args.model, device=args.device, precision=args.precision,
                  trust_remote_code=args.trust_remote_code, **runtime)


def encode_kwargs(args) -> dict:
    """encode()'s keyword arguments from the flags of add_encoding."""
    return {"pooling": args.pooling, "layers": args.layers, "normalize": args.normalize,
            "batch_tokens": args.batch_tokens, "prompt_name": args.prompt_name, "prompt": args.prompt}


def width(text: str) -> int:
    """Columns `text` takes on a terminal: East Asian wide/full-width characters (Hangul, CJK, ...)
    take 2, combining marks 0, the rest 1."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in text)


def table(rows: list[list], header: list[str]) -> str:
    """A plain aligned text table (aligned by display width, so Korean or Chinese text lines up)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(width(r[k]) for r in cells) for k in range(len(header))]

    def numeric(text: str) -> bool:
        try:
            float(text)
            return True
        except ValueError:
            return False

    def pad(text: str, k: int) -> str:
        fill = " " * (widths[k] - width(text))
        return fill + text if right[k] else text + fill
    right = [all(numeric(r[k]) for r in cells[1:]) and len(cells) > 1 for k in range(len(header))]
    lines = ["  ".join(pad(c, k) for k, c in enumerate(r)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def emit(result, as_json: bool, text: str | None = None) -> None:
    """Print a result: one JSON document with --json, else the human text."""
    if as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    elif text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def add_chunking(parser, none: bool = False) -> None:
    """--chunking / --chunk-tokens / --overlap: long texts cut into chunks (twinbert.chunking)."""
    from ..chunking import DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP

    parser.add_argument("--chunking", default=None, choices=(["none"] if none else []) + ["chunks", "late"],
                        help="long texts as chunks of their own tokens, cut at sentence ends: chunks (each chunk "
                             "encoded on its own) or late (late chunking: each chunk pooled from the token states "
                             "of the whole text, so it has seen its neighbours)"
                             + ("; none: one vector per text, cut at max_seq_length (default)" if none else ""))
    parser.add_argument("--chunk-tokens", type=positive_int, default=None, metavar="N",
                        help=f"tokens per chunk (default {DEFAULT_CHUNK_TOKENS}, at most what max_seq_length leaves "
                             "beside the special tokens and the prompt)")
    parser.add_argument("--overlap", type=int, default=None, metavar="M",
                        help=f"tokens a chunk shares with the one before (default {DEFAULT_OVERLAP}, at most half "
                             "of --chunk-tokens)")


def chunking_kwargs(args) -> dict:
    """The chunking arguments given on the command line, for a library call."""
    return {"chunking": args.chunking, "chunk_tokens": args.chunk_tokens, "overlap": args.overlap}
