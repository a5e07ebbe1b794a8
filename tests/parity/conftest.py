"""pytest fixtures of the parity tests (helpers live in ``parity_utils.py``)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

# The suite runs with --import-mode=importlib, which puts no test folder on sys.path;
# make the helper module of this folder importable by the test modules beside it.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from parity_utils import MAX_DIFFS, Fixture  # noqa: E402


@pytest.fixture(scope="session")
def load_fixture(fixtures_dir: Path):
    """``load_fixture("salad_io")`` → :class:`Fixture` (cached for the session)."""
    cache: dict[str, Fixture] = {}

    def load(name: str) -> Fixture:
        if name not in cache:
            cache[name] = Fixture(fixtures_dir / f"{name}.safetensors")
        return cache[name]

    return load


@pytest.fixture(autouse=True)
def _no_grad():
    with torch.no_grad():
        yield


def pytest_terminal_summary(terminalreporter) -> None:  # pragma: no cover - reporting only
    if MAX_DIFFS:
        terminalreporter.write_sep("-", "parity: largest |mine - ref| per tensor")
        for name, value in sorted(MAX_DIFFS.items()):
            terminalreporter.write_line(f"{name:55s} {value:.2e}")
