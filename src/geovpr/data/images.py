"""Image decoding and the image → tensor transform.

Decisions (the references are silent or differ):

* Every image becomes 8-bit RGB. Grayscale, palette and CMYK images are
  converted; an **alpha channel is dropped, not composited** (the colour
  values under the alpha are kept), which is exactly what the reference
  evaluators' ``Image.open(p).convert("RGB")`` does.
* Deep images are scaled by their **bit depth, never by their content**:
  16-bit images (PIL modes ``I;16*``) and 32-bit integer images (mode ``I``,
  read as 16-bit data) map ``v -> round(v * 255 / 65535)``, values outside
  ``[0, 65535]`` clipped; float images (mode ``F``) are taken as ``[0, 1]``
  (``v -> round(v * 255)``, clipped, NaN -> 0). So two images that differ in
  one pixel decode to images that differ in that pixel only.
* The EXIF orientation tag is **not** applied, again like the references.
* A file that cannot be fully decoded raises :class:`BadImageError` naming
  the file: decoding is forced with ``img.load()`` and truncated files are
  never accepted (``ImageFile.LOAD_TRUNCATED_IMAGES`` is not touched).
* Huge images: PIL's decompression-bomb guard is respected, never disabled.
  Its warning (above ``Image.MAX_IMAGE_PIXELS``, 89 Mpx by default) is
  silenced; images above twice that limit (179 Mpx) are refused with a clear
  :class:`BadImageError`. JPEGs whose long side exceeds
  :data:`DRAFT_LONG_SIDE` are decoded at a reduced DCT scale (``draft``) with
  the long side still >= ``DRAFT_LONG_SIDE`` pixels, so a 10k x 10k photo
  costs ~75 MB instead of 300 MB. Images of ordinary size are decoded in full,
  so numbers match the references.
* The model input is a PIL **bilinear** resize to ``Preprocess.size``
  ``(H, W)`` (PIL takes ``(W, H)``), no aspect preservation. Mode ``"rgb"``:
  float in [0, 1], ImageNet-normalised, ``[3, H, W]``. Mode ``"gray"``: PIL
  ``"L"`` conversion (ITU-R 601-2 luma, rounded to uint8) *before* the resize,
  float in [0, 1], not normalised, ``[1, H, W]``.
"""
from __future__ import annotations

import logging
import os
import stat
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from geovpr.errors import BadImageError, DataError
from geovpr.data.preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
DRAFT_LONG_SIDE = 4096
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, TypeError, IndexError, KeyError, MemoryError)


def list_images(folder: str | os.PathLike, *, recursive: bool = True) -> list[Path]:
    """Image files under ``folder``, sorted by their path relative to it.

    Extensions: :data:`IMAGE_EXTENSIONS`, any case. Hidden files (name starting
    with ``.``, e.g. macOS ``._x.jpg`` resource forks) are ignored. Symbolic
    links to folders are followed, each real folder once: a link back to a
    folder already listed (a loop, or a second way to the same folder) is
    logged and not followed again. A FIFO, device or socket with an image
    extension is refused (:class:`DataError` naming it) before anything could
    open it; a dangling link is logged and skipped.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: image folder not found (expected a directory)")
    found: list[Path] = []
    _walk(root, recursive, found, {_identity(root)})
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _identity(folder: Path) -> tuple[int, int]:
    st = os.stat(folder)
    return st.st_dev, st.st_ino


def _walk(folder: Path, recursive: bool, found: list[Path], seen: set[tuple[int, int]]) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise DataError(f"{folder}: cannot list this folder ({exc.strerror})") from None
    for entry in entries:
        path = Path(entry.path)
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            if recursive:
                _enter(path, found, seen)
            continue
        if path.suffix.lower() not in IMAGE_EXTENSIONS or entry.name.startswith("."):
            continue
        try:
            mode = entry.stat().st_mode
        except OSError:
            log.warning("%s: dangling symbolic link or unreadable entry, skipped", path)
            continue
        if not stat.S_ISREG(mode):
            raise DataError(f"{path}: not a regular file (FIFO, device or socket); remove it from the image folder")
        found.append(path)


def _enter(path: Path, found: list[Path], seen: set[tuple[int, int]]) -> None:
    try:
        key = _identity(path)
    except OSError:
        log.warning("%s: folder cannot be read, skipped", path)
        return
    if key in seen:
        log.warning("%s: links to a folder that is already listed (%s), not followed again",
                    path, "a loop" if path.is_symlink() else "same folder")
        return
    seen.add(key)
    _walk(path, True, found, seen)


def load_image(path: str | os.PathLike) -> Image.Image:
    """Decode an image file completely into an RGB PIL image.

    Raises :class:`BadImageError` (naming the file) for missing, unreadable,
    corrupt, truncated or non-image files and for images above PIL's
    decompression-bomb limit. A FIFO, device, socket or folder is refused
    before anything reads from it (so it cannot block).
    """
    try:
        with warnings.catch_warnings(), _open_regular(path) as fh:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(fh) as img:
                _reduce_huge_jpeg(img)
                img.load()
                return _to_rgb(img)
    except Image.DecompressionBombError as exc:
        raise BadImageError(path, f"too many pixels ({exc}); downscale the image first") from None
    except FileNotFoundError:
        raise BadImageError(path, "file not found") from None
    except PermissionError:
        raise BadImageError(path, "permission denied") from None
    except Image.UnidentifiedImageError:
        raise BadImageError(path, "not an image file PIL can identify") from None
    except _DECODE_ERRORS as exc:
        raise BadImageError(path, f"decoding failed ({type(exc).__name__}: {exc})") from None


def _open_regular(path: str | os.PathLike):  # noqa: ANN202 - a binary file object
    """Open ``path`` without blocking and check that it is a regular file before any read."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BadImageError(path, "not a regular file (FIFO, device, socket or folder)")
    return os.fdopen(fd, "rb")


def _reduce_huge_jpeg(img: Image.Image) -> None:
    """Ask the JPEG decoder for a smaller DCT scale when the image is huge."""
    w, h = img.size
    long_side = max(w, h)
    if img.format == "JPEG" and long_side > DRAFT_LONG_SIDE:
        scale = DRAFT_LONG_SIDE / long_side
        img.draft(None, (max(1, int(w * scale)), max(1, int(h * scale))))


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB (alpha dropped)."""
    if img.mode == "RGB":
        return img.copy()
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        return _deep_to_rgb(img)
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return img.convert("RGB")


def _deep_to_rgb(img: Image.Image) -> Image.Image:
    """16-bit / 32-bit int / float grayscale to 8-bit RGB by the mode's full scale (see module notes)."""
    full_scale = 1.0 if img.mode == "F" else 65535.0
    arr = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=full_scale, neginf=0.0)
    arr = np.clip(np.round(arr * (255.0 / full_scale)), 0, 255).astype(np.uint8)
    return Image.fromarray(arr).convert("RGB")


def image_to_tensor(img: Image.Image, preprocess: Preprocess) -> torch.Tensor:
    """The model input of one image: ``[3, H, W]`` (``"rgb"``) or ``[1, H, W]`` (``"gray"``)."""
    height, width = preprocess.size
    if preprocess.mode == "gray":
        small = img.convert("L").resize((width, height), Image.BILINEAR)
        return torch.from_numpy(np.array(small, dtype=np.float32)).div_(255.0).unsqueeze(0)
    if preprocess.mode != "rgb":
        raise ValueError(f"unknown preprocess mode {preprocess.mode!r}; expected 'rgb' or 'gray'")
    small = (img if img.mode == "RGB" else img.convert("RGB")).resize((width, height), Image.BILINEAR)
    x = torch.from_numpy(np.array(small, dtype=np.float32)).div_(255.0).permute(2, 0, 1)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(3, 1, 1)
    return x.sub_(mean).div_(std).contiguous()
