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


def min_gap_over_rounding(db: np.ndarray, q: np.ndarray, k: int) -> float:
    """Smallest gap between consecutive exact squared distances among each query's ``k + 1`` nearest
    rows, in units of how far two float32 evaluations can disagree about such a gap: twice
    ``(D + 2) * u * (|q| + |x|)^2`` (Gram form ``|q|^2 + |x|^2 - 2 q.x``; a direct difference errs
    less).  Above 1, every float32 kNN ranks the first ``k`` rows exactly as float64 does, on any
    BLAS/CPU: exact index comparisons are then valid by construction."""
    u = float(np.finfo(np.float32).eps) / 2
    db64, q64 = np.asarray(db, dtype=np.float64), np.asarray(q, dtype=np.float64)
    d = ((q64[:, None] - db64[None]) ** 2).sum(-1)
    gaps = np.diff(np.sort(d, axis=1)[:, : k + 1], axis=1)
    tol = 2 * (db64.shape[1] + 2) * u * (np.linalg.norm(q64, axis=1)[:, None] + np.linalg.norm(db64, axis=1).max()) ** 2
    return float((gaps / tol).min())


@pytest.fixture(scope="session")
def ranking_is_exact() -> Callable[[np.ndarray, np.ndarray, int], bool]:
    """``ranking_is_exact(db, q, k)``: the data have no float32 near-ties among the first k + 1."""
    return lambda db, q, k: min_gap_over_rounding(db, q, k) > 1.0
