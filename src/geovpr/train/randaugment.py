"""RandAugment (Cubuk et al. 2020) with torchvision's semantics, on PIL images, seeded per sample.

The references (GSV-Cities, SALAD, CliqueMining) train with ``torchvision.transforms.RandAugment(
num_ops=3)`` after the resize. torchvision cannot be installed beside our torch, so this module
re-implements its documented behaviour:

* ``num_ops`` operations are drawn uniformly, with replacement, from :data:`OPS` and applied in
  order, each with probability 1;
* every operation uses the same magnitude bin ``magnitude`` out of ``num_magnitude_bins`` (defaults
  9 of 31); :func:`magnitude_bins` gives each operation's table;
* a signed operation (:data:`SIGNED`) has its magnitude negated with probability 0.5;
* the geometric operations use ``interpolation`` (torchvision's default is nearest; the references
  pass bilinear) and fill uncovered pixels with ``fill`` (default black).

Operation meanings (``m`` is the signed magnitude; PIL image coordinates, y down):
ShearX maps output ``(x, y)`` to input ``(x + m*y, y)``, ShearY to ``(x, y + m*x)`` (shear about the
top-left corner, as torchvision does since pytorch/vision#5285 to match the PIL AutoAugment code);
TranslateX/Y move the content by ``int(m)`` pixels (right/down for ``m > 0``); Rotate turns by ``m`` degrees counter-clockwise about the centre; Brightness, Color, Contrast and
Sharpness are PIL enhancers with factor ``1 + m``; Posterize keeps ``int(m)`` bits; Solarize
inverts every value ``>= m``; AutoContrast and Equalize are PIL's, without a magnitude.

Randomness comes only from the ``numpy.random.Generator`` passed in, so an augmentation is a
function of its seed (see :class:`geovpr.train.transforms.TrainTransform`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from geovpr.errors import ConfigError

OPS = (
    "Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
    "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize",
)
SIGNED = frozenset({"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
                    "Sharpness"})
INTERPOLATIONS = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}
# torchvision's documented defaults (RandAugment(num_ops=2, magnitude=9, num_magnitude_bins=31, NEAREST, fill=None))
DEFAULT_NUM_OPS = 2
DEFAULT_MAGNITUDE = 9
DEFAULT_NUM_BINS = 31
DEFAULT_INTERPOLATION = "nearest"
TRANSLATE_FRACTION = 150.0 / 331.0  # largest shift, as a fraction of the image side
_ENHANCERS = {"Brightness": ImageEnhance.Brightness, "Color": ImageEnhance.Color,
              "Contrast": ImageEnhance.Contrast, "Sharpness": ImageEnhance.Sharpness}


def magnitude_bins(op: str, num_bins: int, height: int, width: int) -> np.ndarray | None:
    """The magnitude of each bin of ``op`` (``None`` for the operations without a magnitude)."""
    if op in ("ShearX", "ShearY"):
        return np.linspace(0.0, 0.3, num_bins)
    if op == "TranslateX":
        return np.linspace(0.0, TRANSLATE_FRACTION * width, num_bins)
    if op == "TranslateY":
        return np.linspace(0.0, TRANSLATE_FRACTION * height, num_bins)
    if op == "Rotate":
        return np.linspace(0.0, 30.0, num_bins)
    if op in _ENHANCERS:
        return np.linspace(0.0, 0.9, num_bins)
    if op == "Posterize":  # 8 bits at bin 0 down to 4 bits at the last bin
        return 8 - np.round(np.arange(num_bins) / ((num_bins - 1) / 4)).astype(np.int64)
    if op == "Solarize":  # threshold of uint8 values: 255 (only 255 inverted) down to 0 (all inverted)
        return np.linspace(255.0, 0.0, num_bins)
    if op in ("Identity", "AutoContrast", "Equalize"):
        return None
    raise ConfigError(f"unknown RandAugment operation {op!r}; known: {list(OPS)}")


def apply_op(img: Image.Image, op: str, magnitude: float, interpolation: str = DEFAULT_INTERPOLATION,
             fill: Any = None) -> Image.Image:
    """One RandAugment operation with a signed ``magnitude`` (see the module doc for the meanings)."""
    resample = INTERPOLATIONS[interpolation]
    fillcolor = _fill(img, fill)
    if op == "Identity":
        return img
    if op in ("ShearX", "ShearY", "TranslateX", "TranslateY"):
        coeffs = {"ShearX": (1.0, magnitude, 0.0, 0.0, 1.0, 0.0),
                  "ShearY": (1.0, 0.0, 0.0, magnitude, 1.0, 0.0),
                  "TranslateX": (1.0, 0.0, -float(int(magnitude)), 0.0, 1.0, 0.0),
                  "TranslateY": (1.0, 0.0, 0.0, 0.0, 1.0, -float(int(magnitude)))}[op]
        return img.transform(img.size, Image.AFFINE, coeffs, resample=resample, fillcolor=fillcolor)
    if op == "Rotate":
        return img.rotate(magnitude, resample=resample, expand=False, fillcolor=fillcolor)
    if op in _ENHANCERS:
        return _ENHANCERS[op](img).enhance(1.0 + magnitude)
    if op == "Posterize":
        return ImageOps.posterize(img, int(magnitude))
    if op == "Solarize":
        return ImageOps.solarize(img, magnitude)
    if op == "AutoContrast":
        return ImageOps.autocontrast(img)
    if op == "Equalize":
        return ImageOps.equalize(img)
    raise ConfigError(f"unknown RandAugment operation {op!r}; known: {list(OPS)}")


def _fill(img: Image.Image, fill: Any) -> Any:
    bands = len(img.getbands())
    value = 0 if fill is None else fill
    if isinstance(value, (int, float)):
        return int(value) if bands == 1 else (int(value),) * bands
    return tuple(int(v) for v in value)


@dataclass(frozen=True)
class RandAugment:
    """``RandAugment(num_ops, magnitude, num_magnitude_bins, interpolation, fill)``; call it as
    ``aug(img, rng)`` with a ``numpy.random.Generator`` (``num_ops=0`` is the identity)."""

    num_ops: int = DEFAULT_NUM_OPS
    magnitude: int = DEFAULT_MAGNITUDE
    num_magnitude_bins: int = DEFAULT_NUM_BINS
    interpolation: str = DEFAULT_INTERPOLATION
    fill: Any = None

    def __post_init__(self) -> None:
        for name in ("num_ops", "magnitude", "num_magnitude_bins"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"randaugment.{name} must be an integer, got {value!r}")
        if self.num_ops < 0:
            raise ConfigError(f"randaugment.num_ops must be >= 0 (0 = off), got {self.num_ops}")
        if self.num_magnitude_bins < 2:
            raise ConfigError(f"randaugment.num_magnitude_bins must be >= 2, got {self.num_magnitude_bins}")
        if not 0 <= self.magnitude < self.num_magnitude_bins:
            raise ConfigError(f"randaugment.magnitude must be in [0, {self.num_magnitude_bins - 1}] "
                              f"(a bin of num_magnitude_bins), got {self.magnitude}")
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(f"randaugment.interpolation must be one of {sorted(INTERPOLATIONS)}, "
                              f"got {self.interpolation!r}")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> "RandAugment":
        """From the recipe mapping ``train.randaugment`` (``num_ops``, ``magnitude``, ...)."""
        return cls(**dict(cfg))

    def draw(self, rng: np.random.Generator, height: int, width: int) -> list[tuple[str, float]]:
        """The ``(operation, signed magnitude)`` sequence for one image of size ``height x width``."""
        ops = []
        for _ in range(self.num_ops):
            op = OPS[int(rng.integers(len(OPS)))]
            bins = magnitude_bins(op, self.num_magnitude_bins, height, width)
            value = 0.0 if bins is None else float(bins[self.magnitude])
            if op in SIGNED and int(rng.integers(2)):
                value = -value
            ops.append((op, value))
        return ops

    def __call__(self, img: Image.Image, rng: np.random.Generator) -> Image.Image:
        for op, value in self.draw(rng, img.height, img.width):
            img = apply_op(img, op, value, self.interpolation, self.fill)
        return img
