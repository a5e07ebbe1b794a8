"""Exceptions that the command line turns into a clear message (no traceback)."""
from __future__ import annotations


class GeovprError(Exception):
    """Base class of every error a user can fix (bad input, missing file, bad option)."""


class DataError(GeovprError):
    """A dataset, table or file has the wrong content; the message names file and row."""


class BadImageError(DataError):
    """An image file cannot be decoded; ``path`` names it."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read image {self.path}: {reason}")


class CheckpointError(GeovprError):
    """A checkpoint is missing, unsafe, or does not match the model (lists the keys)."""


class ConfigError(GeovprError):
    """A recipe or command-line option is invalid."""


class MissingExtraError(GeovprError):
    """An optional dependency is not installed; the message names the ``geovpr[extra]`` that provides it."""
