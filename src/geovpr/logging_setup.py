"""Logging configuration for the command line (the library itself only logs)."""
from __future__ import annotations

import logging
import sys


def setup_logging(verbosity: int = 0, log_file: str | None = None) -> None:
    """Send ``geovpr`` log records to stderr (and optionally a file).

    ``verbosity`` 0 = INFO, 1+ = DEBUG, -1 = WARNING.
    """
    level = logging.DEBUG if verbosity > 0 else logging.WARNING if verbosity < 0 else logging.INFO
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    root = logging.getLogger("geovpr")
    root.setLevel(level)
    for handler in list(root.handlers):
        if not isinstance(handler, logging.NullHandler):
            root.removeHandler(handler)
    for handler in handlers:
        handler.setFormatter(fmt)
        root.addHandler(handler)
