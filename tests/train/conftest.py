"""Fixtures of the training tests: one tiny GSV-Cities-style dataset per session.

Shared helpers live in ``train_data.py`` beside this file; with ``--import-mode=importlib`` the test
folder is not on ``sys.path``, so it is added here (once, before the test modules import it).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from train_data import make_gsv_cities  # noqa: E402


@pytest.fixture(scope="session")
def gsv_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_gsv_cities(tmp_path_factory.mktemp("gsv") / "gsv_cities")
