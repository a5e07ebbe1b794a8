"""16-bit and float images are scaled by bit depth, never by their own content."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from geovpr.data.images import load_image
from geovpr.models.pixels import THUMB_HEIGHT, THUMB_WIDTH, PixelsModel


def _save16(path: Path, arr: np.ndarray) -> Path:
    Image.fromarray(arr.astype(np.uint16)).save(path)
    assert Image.open(path).mode.startswith("I;16")
    return path


def _expected8(arr: np.ndarray, full_scale: float) -> np.ndarray:
    return np.clip(np.round(arr.astype(np.float64) * 255.0 / full_scale), 0, 255).astype(np.uint8)


def test_dark_16bit_images_differing_in_one_pixel_decode_alike(tmp_path: Path) -> None:
    """The report: values <= 255 with one pixel 255 vs 256 decoded to means 126.5 vs 0.49."""
    base = np.random.default_rng(0).integers(0, 256, (THUMB_HEIGHT, THUMB_WIDTH))
    base[5, 7] = 255
    other = base.copy()
    other[5, 7] = 256
    a = np.asarray(load_image(_save16(tmp_path / "a.png", base)))[..., 0]
    b = np.asarray(load_image(_save16(tmp_path / "b.png", other)))[..., 0]
    np.testing.assert_array_equal(a, _expected8(base, 65535))
    np.testing.assert_array_equal(b, _expected8(other, 65535))
    assert np.count_nonzero(a != b) <= 1 and abs(float(a.mean()) - float(b.mean())) <= 1 / a.size


def test_one_pixel_change_moves_the_descriptor_by_a_tiny_amount(tmp_path: Path) -> None:
    full = np.random.default_rng(1).integers(0, 65536, (THUMB_HEIGHT, THUMB_WIDTH))
    changed = full.copy()
    changed[3, 4] = (full[3, 4] + 300) % 65536  # at least one 8-bit level, at most a few
    paths = [_save16(tmp_path / "x.png", full), _save16(tmp_path / "y.png", changed)]
    decoded = [np.asarray(load_image(p))[..., 0].astype(np.float64) / 255.0 for p in paths]
    step = np.abs(decoded[0] - decoded[1])
    assert np.count_nonzero(step) == 1
    d = PixelsModel().describe([str(p) for p in paths])
    # the thumbnail is the decoded image (same size); for unit vectors v/|v|: |d1 - d2| <= 2 |dv| / |v|
    v = decoded[0] - decoded[0].mean()
    bound = 2 * step.max() / np.linalg.norm(v)
    assert 0 < np.linalg.norm(d[0] - d[1]) <= bound and bound < 0.05


def test_float_images_are_taken_as_unit_range(tmp_path: Path) -> None:
    arr = np.linspace(-0.5, 1.5, THUMB_HEIGHT * THUMB_WIDTH, dtype=np.float32).reshape(THUMB_HEIGHT, THUMB_WIDTH)
    arr[0, 0] = np.nan
    Image.fromarray(arr).save(tmp_path / "f.tif")
    got = np.asarray(load_image(tmp_path / "f.tif"))[..., 0]
    want = _expected8(np.nan_to_num(arr, nan=0.0), 1.0)
    np.testing.assert_array_equal(got, want)
    small = np.clip(np.nan_to_num(arr), 0, 1) / 255.0  # a [0, 1/255] image is dark, not stretched
    Image.fromarray(small).save(tmp_path / "g.tif")
    assert np.asarray(load_image(tmp_path / "g.tif")).max() <= 1
