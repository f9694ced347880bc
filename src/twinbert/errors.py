"""The few exception classes twinbert raises.

Every message names the culprit (file, line, field or argument) and what would be accepted. Library
messages speak Python names (`batch_tokens`); an error about one argument carries that name in
`.argument`, and the CLI rewrites it to the flag the user typed (`--batch-tokens`). The CLI turns any
of them into a one-line error on stderr and exit code 2.
"""
from __future__ import annotations


class TwinbertError(Exception):
    """Base class of every error twinbert raises on purpose.

    argument: the Python argument at fault, when there is one (the CLI names its flag instead).
    """

    def __init__(self, message: str = "", *, argument: str | None = None):
        super().__init__(message)
        self.argument = argument


class ModelLoadError(TwinbertError):
    """A model folder, checkpoint or name that cannot be loaded."""


class InputError(TwinbertError):
    """Bad user input: a data file, a row, a column, an argument value."""


class OutputError(TwinbertError):
    """An output that cannot be written."""


class MissingExtraError(TwinbertError):
    """An optional dependency that is not installed; the message names the extra that brings it
    (`pip install 'twinbert[faiss]'`). Raised by twinbert.extras.require, the one place that imports them."""

    def __init__(self, message: str = "", *, extra: str, argument: str | None = None):
        super().__init__(message, argument=argument)
        self.extra = extra
