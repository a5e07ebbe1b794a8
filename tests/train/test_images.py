"""Training images: deterministic augmentation per seed, bad-image policy (error names the file / skip)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from geovpr.errors import BadImageError
from geovpr.data.preprocess import IMAGENET_MEAN, IMAGENET_STD
from geovpr.train.datamodule import TrainImages, collate
from geovpr.train.transforms import TrainTransform


def _files(tmp_path: Path) -> np.ndarray:
    rng = np.random.default_rng(0)
    good = tmp_path / "good.png"
    Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg at all")
    return np.array([str(good), str(bad)], dtype=object)


def test_transform_resizes_normalises_and_jitter_is_seeded(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    img = Image.open(paths[0]).convert("RGB")
    plain = TrainTransform((14, 28))(img, seed=1)
    expected = np.asarray(img.resize((28, 14), Image.BILINEAR), dtype=np.float32) / 255.0
    expected = (expected - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    assert plain.shape == (3, 14, 28)
    assert np.allclose(plain.permute(1, 2, 0).numpy(), expected, atol=1e-5)
    jitter = TrainTransform((14, 28), jitter=0.4)
    assert torch.equal(jitter(img, 7), jitter(img, 7))
    assert not torch.equal(jitter(img, 7), jitter(img, 8))
    assert TrainTransform((14, 28), mode="gray")(img, 0).shape == (1, 14, 28)


def test_bad_image_errors_with_its_path_or_is_skipped(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    strict = TrainImages(paths, TrainTransform((14, 14)), "error")
    assert strict[(0, 0, 5)][1] == 5
    with pytest.raises(BadImageError, match="bad.jpg"):
        strict[(1, 0, 5)]
    lenient = TrainImages(paths, TrainTransform((14, 14)), "skip")
    images, labels = collate([lenient[(0, 0, 3)], lenient[(1, 0, 3)]])
    assert labels.tolist() == [3, -1] and images.shape == (2, 3, 14, 14) and not images[1].any()
