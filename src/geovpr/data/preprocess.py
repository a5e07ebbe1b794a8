"""How an image becomes a model's input: the :class:`Preprocess` record and the normalisation constants.

A model carries its ``Preprocess``; :func:`geovpr.data.images.image_to_tensor`
applies it; the training transform uses the same constants; :func:`standardize_images`
is the optional per-image standardisation a model applies first in its forward pass.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from geovpr.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """How a PIL image becomes the model's input tensor.

    ``size`` is (height, width); resize is PIL bilinear, not aspect-preserving
    (the field's ``hard_resize``). ``mode`` is ``"rgb"`` (ImageNet-normalised
    RGB) or ``"gray"`` (one channel in [0, 1], no normalisation).

    ``standardize`` (default False): the model standardises each input image per
    channel -- subtracts the channel's mean over the image and divides by its
    standard deviation (see :func:`standardize_images`) -- as the first step of its
    forward pass, so training and evaluation both get it. The result does not depend
    on the image's brightness or contrast (any positive affine change of the pixel
    values), which is what a season change mostly is on grayscale footage.  Saved in
    ``config.json`` only when True (older configs read as False).
    """

    size: tuple[int, int] = (322, 322)
    mode: str = "rgb"
    standardize: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"size": list(self.size), "mode": self.mode}
        if self.standardize:
            out["standardize"] = True
        return out

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Preprocess":
        flag = d.get("standardize", False)
        if not isinstance(flag, bool):
            raise ConfigError(f"preprocess.standardize must be true or false, got {flag!r}")
        return Preprocess(size=(int(d["size"][0]), int(d["size"][1])), mode=str(d.get("mode", "rgb")),
                          standardize=flag)


#: added to the standard deviation in :func:`standardize_images` (a flat image becomes all zeros)
STANDARDIZE_EPS = 1e-5


def standardize_images(x: torch.Tensor) -> torch.Tensor:
    """``(x - mean) / (std + eps)`` per image and channel over the spatial axes of ``[B, C, H, W]``.

    ``std`` is the population standard deviation (divisor H*W); ``eps`` = :data:`STANDARDIZE_EPS`.
    """
    mean = x.mean(dim=(2, 3), keepdim=True)
    std = x.std(dim=(2, 3), keepdim=True, unbiased=False)
    return (x - mean) / (std + STANDARDIZE_EPS)
