"""Small image factories for the index/query tests (textured random images, @-names)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image


def at_name(east: float, north: float, zone: str = "17", letter: str = "T", ext: str = ".jpg") -> str:
    """A VPR-datasets-downloader file name with only the UTM fields filled."""
    return f"@{east:010.2f}@{north:010.2f}@{zone}@{letter}@@@@@@@@@@{ext}"


def textured(seed: int, size: tuple[int, int] = (48, 64)) -> Image.Image:
    """A random RGB image (height, width) that the pixels model maps to a non-zero descriptor."""
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((*size, 3)) * 255).astype(np.uint8))


@pytest.fixture
def make_images() -> Callable[..., list[Path]]:
    """``make_images(folder, names, seed0=0)`` writes one textured PNG/JPEG per name."""

    def _make(folder: Path, names: list[str], seed0: int = 0) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        for i, name in enumerate(names):
            p = folder / name
            img = textured(seed0 + i)
            img.save(p, quality=95) if p.suffix.lower() in (".jpg", ".jpeg") else img.save(p)
            out.append(p)
        return out

    return _make


@pytest.fixture(autouse=True)
def _one_faiss_thread():
    """faiss' OpenMP threads spin badly on a busy 2-core machine; tests use one thread."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)
