"""Image decoding: modes, bad files, huge images, the tensor transform."""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from geovpr.data.images import IMAGE_EXTENSIONS, image_to_tensor, list_images, load_image
from geovpr.errors import BadImageError, DataError
from geovpr.data.preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess


def _rgb(h: int = 20, w: int = 30, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_modes_become_rgb(tmp_path: Path) -> None:
    arr = _rgb()
    gray = Image.fromarray(arr[..., 0], "L")
    gray.save(tmp_path / "gray.png")
    assert np.array_equal(np.asarray(load_image(tmp_path / "gray.png")), np.repeat(arr[..., :1], 3, axis=2))

    rgba = np.concatenate([arr, np.full(arr.shape[:2] + (1,), 7, np.uint8)], axis=2)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    out = load_image(tmp_path / "alpha.png")
    assert out.mode == "RGB"
    assert np.array_equal(np.asarray(out), arr)  # alpha dropped, colours untouched

    pal = Image.fromarray(arr).convert("P", palette=Image.ADAPTIVE, colors=16)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "pal.png", transparency=0)
    assert np.array_equal(np.asarray(load_image(tmp_path / "pal.png")), np.asarray(pal.convert("RGB")))

    deep = (arr[..., 0].astype(np.uint16) * 257)
    Image.fromarray(deep).save(tmp_path / "deep.png")  # 16-bit grayscale
    assert np.array_equal(np.asarray(load_image(tmp_path / "deep.png"))[..., 0], arr[..., 0])


def test_corrupt_and_non_images_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(BadImageError, match="text.jpg"):
        load_image(tmp_path / "text.jpg")
    with pytest.raises(BadImageError, match="missing.png.*not found"):
        load_image(tmp_path / "missing.png")


def test_truncated_jpeg_is_refused(tmp_path: Path) -> None:
    Image.fromarray(_rgb(200, 200)).save(tmp_path / "full.jpg", quality=95)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    assert load_image(tmp_path / "full.jpg").size == (200, 200)
    with pytest.raises(BadImageError, match=r"cut\.jpg.*truncated"):
        load_image(tmp_path / "cut.jpg")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads files regardless of permissions")
def test_permission_denied(tmp_path: Path) -> None:
    path = tmp_path / "locked.png"
    Image.fromarray(_rgb()).save(path)
    path.chmod(0)
    try:
        with pytest.raises(BadImageError, match="locked.png.*permission"):
            load_image(path)
    finally:
        path.chmod(0o644)


def test_huge_jpeg_is_decoded_reduced(tmp_path: Path) -> None:
    path = tmp_path / "huge.jpg"
    Image.new("RGB", (10000, 10000), (10, 200, 30)).save(path, quality=50)
    img = load_image(path)
    assert img.mode == "RGB"
    assert 4096 <= max(img.size) <= 10000 and img.size[0] == img.size[1]
    assert max(abs(a - b) for a, b in zip(img.getpixel((7, 7)), (10, 200, 30))) <= 3


def _png_header_only(path: Path, width: int, height: int) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_decompression_bomb_gives_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    _png_header_only(path, 20000, 20000)  # 400 Mpx, above PIL's 179 Mpx hard limit
    with pytest.raises(BadImageError, match="bomb.png.*too many pixels"):
        load_image(path)


def test_list_images_sorted_any_case(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("b.JPG", "a.png", "sub/c.TIFF", "d.txt", ".hidden.jpg", "e.WebP"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == ["a.png", "b.JPG", "e.WebP", "sub/c.TIFF"]
    assert {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"} == set(IMAGE_EXTENSIONS)
    with pytest.raises(DataError, match="not found"):
        list_images(tmp_path / "nope")


def test_image_to_tensor_rgb_matches_manual_reference() -> None:
    arr = _rgb(40, 60)
    img = Image.fromarray(arr)
    x = image_to_tensor(img, Preprocess(size=(10, 15), mode="rgb"))
    assert x.shape == (3, 10, 15) and x.dtype == torch.float32
    small = np.asarray(img.resize((15, 10), Image.BILINEAR), dtype=np.float32) / 255.0
    ref = (small - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
    np.testing.assert_allclose(x.permute(1, 2, 0).numpy(), ref, atol=1e-6)


def test_image_to_tensor_gray_is_unnormalised_luma() -> None:
    img = Image.fromarray(_rgb(48, 64))
    x = image_to_tensor(img, Preprocess(size=(24, 32), mode="gray"))
    assert x.shape == (1, 24, 32)
    ref = np.asarray(img.convert("L").resize((32, 24), Image.BILINEAR), dtype=np.float32) / 255.0
    np.testing.assert_array_equal(x[0].numpy(), ref)
