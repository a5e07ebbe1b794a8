"""Fixtures that write tiny evaluation sets into tmp_path."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image


def _write_png(path: Path, seed: int = 0, size: tuple[int, int] = (8, 6)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return path


def _at_name(east: float, north: float, note: str = "") -> str:
    """A VPR-datasets-downloader file name (two-decimal UTM, zone 17T)."""
    return f"@{east:010.2f}@{north:010.2f}@17@T@040.44491@-079.98893@@@@@@@@{note}@.png"


@pytest.fixture
def write_png() -> Callable[..., Path]:
    return _write_png


@pytest.fixture
def at_name() -> Callable[..., str]:
    return _at_name
