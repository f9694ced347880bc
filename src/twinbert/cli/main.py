"""The `twinbert` command: a dispatcher over thin subcommands, one module each.

Every subcommand parses its input, calls one library function and formats the result. Results go
to stdout (one JSON document with --json); logs and progress go to stderr. A TwinbertError becomes
a one-line message and exit code 2.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys

from ..errors import TwinbertError

# modules under twinbert.cli; each has register(subparsers) (adding its commands) and a run function.
COMMANDS = ["encode", "similarity", "compare", "info", "eval", "search_cli", "train", "bert_cli", "classify",
            "cross_encoder_cli", "mlm"]


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(prog="twinbert", description="Sentence-BERT style sentence encoders: "
                                     "encode, compare, evaluate and search.")
    parser.add_argument("--version", action="version", version=f"twinbert {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f".{name}", __package__).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s", stream=sys.stderr)
    parser = build_parser()
    args = parser.parse_args(argv)  # first: --help, --version and usage errors need no transformers
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
    except KeyboardInterrupt:
        print(f"twinbert {args.command}: interrupted", file=sys.stderr)
        return 130
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
    the user typed a flag, so name that instead. Only the argument the error is about is rewritten."""
    if not argument:
        return message
    for action in parser._actions:
        if action.dest == argument and action.option_strings:
            flag = max(action.option_strings, key=len)
            message = re.sub(rf"(?<![\w-]){re.escape(argument)}=True\b", flag, message)
            return re.sub(rf"(?<![\w./-]){re.escape(argument)}(?![\w/])", flag, message)
    return message
