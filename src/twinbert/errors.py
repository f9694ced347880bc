"""The few exception classes twinbert raises.

Every message names the culprit (file, line, field or argument) and what would be accepted.
The CLI turns any of them into a one-line error on stderr and exit code 2.
"""


class TwinbertError(Exception):
    """Base class of every error twinbert raises on purpose."""


class ModelLoadError(TwinbertError):
    """A model folder, checkpoint or name that cannot be loaded."""


class InputError(TwinbertError):
    """Bad user input: a data file, a row, a column, an argument value."""


class OutputError(TwinbertError):
    """An output that cannot be written."""
