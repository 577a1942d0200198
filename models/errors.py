"""Exceptions that carry a message meant for the user.

The command line prints any :class:`BiopropError` as one line and exits with
status 2; anything else is a bug and keeps its traceback.
"""


class BiopropError(Exception):
    """Base class of every error caused by the user's input or environment."""


class ParameterError(BiopropError, ValueError):
    """A parameter has an unknown name, a wrong unit or an out-of-range value."""


class DatasetError(BiopropError):
    """A dataset is unknown, missing, malformed or fails its checksum."""


class DeviceError(BiopropError):
    """The simulation device cannot be used as asked (no compiler, bad run_args)."""


class ResultError(BiopropError):
    """A result file cannot be written or does not follow the schema."""
