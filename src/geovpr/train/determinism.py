"""Reproducible CPU training: deterministic algorithms for the duration of a run.

A seeded CPU run is bit-reproducible on one machine for a fixed intra-op thread count (float
sums depend on how a reduction is split over threads, so runs with another thread count differ
in the last bits and, after training, in the weights). Inside :func:`deterministic_algorithms`
torch uses its deterministic implementation wherever one exists (warning, not failing, where none
does); the previous global mode is restored afterwards.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator

import torch

log = logging.getLogger(__name__)


@contextlib.contextmanager
def deterministic_algorithms(enabled: bool = True) -> Iterator[None]:
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` for the block (no-op if not ``enabled``)."""
    if not enabled:
        yield
        return
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    torch.use_deterministic_algorithms(True, warn_only=True)
    log.debug("deterministic algorithms on (%d intra-op threads)", torch.get_num_threads())
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
