"""Shared test configuration: where the reference fixtures and the real data live."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def fixtures_root() -> Path:
    """Folder of the reference fixtures: $GEOVPR_FIXTURES or ../shared/fixtures."""
    return Path(os.environ.get("GEOVPR_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))


def shared_data_root() -> Path:
    """Folder of the real datasets beside the project: ../shared/data."""
    return Path(os.environ.get("GEOVPR_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    root = fixtures_root()
    if not root.is_dir():
        pytest.skip(f"reference fixtures not found at {root} (set GEOVPR_FIXTURES)")
    return root


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_root()
    if not root.is_dir():
        pytest.skip(f"shared data not found at {root} (set GEOVPR_SHARED_DATA)")
    return root
