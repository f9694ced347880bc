"""The `twinbert` command: a dispatcher over thin subcommands, one module each.

Every subcommand parses its input, calls one library function and formats the result. Results go
to stdout (one JSON document with --json); logs and progress go to stderr. A TwinbertError becomes
a one-line message and exit code 2; Ctrl-C exits 130 and SIGTERM 143, each with one line, after the
finally blocks of the work have removed its temporary files.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import signal
import sys
import threading

from ..errors import TwinbertError

# modules under twinbert.cli; each has register(subparsers) (adding its commands) and a run function.
COMMANDS = ["encode", "similarity", "compare", "info", "eval", "search_cli", "train", "bert_cli", "classify", "export",
            "cross_encoder_cli", "mlm", "recipe", "trim_vocab", "serve"]


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(prog="twinbert", description="Sentence-BERT style sentence encoders: "
                                     "encode, compare, evaluate and search.")
    parser.add_argument("--version", action="version", version=f"twinbert {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f".{name}", __package__).register(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so that a `kill` unwinds exactly like Ctrl-C: every
    finally block runs (temp files removed, previous outputs untouched) and the exit code is 143."""


def _raise_terminated(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    # signal handlers can only be set from the main thread (not when main() runs in a worker thread)
    previous = signal.signal(signal.SIGTERM, _raise_terminated) \
        if threading.current_thread() is threading.main_thread() else None
    command = None
    try:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s", stream=sys.stderr)
        parser = build_parser()
        args = parser.parse_args(argv)  # first: --help, --version and usage errors need no transformers
        command = args.command
        return _run(parser, args)
    except KeyboardInterrupt as e:
        terminated = isinstance(e, Terminated)
        if sys.stderr.isatty():
            sys.stderr.write("\r\033[K")  # over a half-drawn progress line, not after it
        print(f"twinbert{' ' + command if command else ''}: {'terminated' if terminated else 'interrupted'}",
              file=sys.stderr)
        return 143 if terminated else 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(parser: argparse.ArgumentParser, args) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    try:
        import transformers
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass
    try:
        return int(args.run(args) or 0)
    except TwinbertError as e:
        # one line whatever the message holds (some wrap multi-line errors from transformers)
        message = " ".join(part.strip() for part in str(e).splitlines() if part.strip())
        message = speak_flags(message, e.argument, command_parser(parser, args))
        print(f"twinbert {args.command}: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


def command_parser(parser: argparse.ArgumentParser, args) -> argparse.ArgumentParser:
    """The (sub)parser of the command that ran, following nested subcommands (`index build`)."""
    while True:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or getattr(args, subs[0].dest, None) not in subs[0].choices:
            return parser
        parser = subs[0].choices[getattr(args, subs[0].dest)]


def speak_flags(message: str, argument: str | None, parser: argparse.ArgumentParser) -> str:
    """Library errors name the Python argument (`batch_tokens`, `overwrite=True`); on the command line
    the user typed a flag, so name that instead. Only the argument the error is about is rewritten, at its
    first mention (later words such as "3 columns" stay words)."""
    if not argument:
        return message
    for action in parser._actions:
        if action.dest == argument and action.option_strings:
            # the longest name, but not the --no-x of a --x / --no-x pair (the error is about the setting)
            flag = max((s for s in action.option_strings if not s.startswith("--no-")), key=len,
                       default=action.option_strings[0])
            message, done = re.subn(rf"(?<![\w-]){re.escape(argument)}=True\b", flag, message, count=1)
            if done:
                return message
            # the first mention only, and never inside a path or file name (data.txt, out/data)
            return re.sub(rf"(?<![\w./-]){re.escape(argument)}(?![\w/]|\.\w)", flag, message, count=1)
    return message
