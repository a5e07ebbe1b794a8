"""Training image transform: resize to the training size, optional RandAugment, optional colour jitter.

Plain PIL + torch (no torchvision). The augmentation of an image is drawn from its own seed (given
by the batch sampler from the run seed, epoch, step and position), so it is reproducible across
workers, processes and resumes. RandAugment and the jitter use independent streams of that seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from geovpr.data.preprocess import IMAGENET_MEAN, IMAGENET_STD
from geovpr.train.randaugment import RandAugment

_GRAY_WEIGHTS = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
RANDAUGMENT_STREAM = 1  # the RandAugment generator of an image is seeded with (seed, RANDAUGMENT_STREAM)


@dataclass(frozen=True)
class TrainTransform:
    """``size`` (H, W); ``mode`` "rgb" (ImageNet-normalised) or "gray" (one channel in [0, 1]).

    ``randaugment``: applied to the resized image (as the references: resize, then RandAugment);
    ``None`` or ``num_ops=0`` disables it. ``jitter`` in [0, 1): brightness, contrast and
    saturation factors drawn uniformly from ``[1 - jitter, 1 + jitter]`` (0 disables it).
    """

    size: tuple[int, int]
    mode: str = "rgb"
    jitter: float = 0.0
    randaugment: RandAugment | None = None

    def __call__(self, img: Image.Image, seed: int) -> torch.Tensor:
        height, width = self.size
        small = img.convert("RGB").resize((width, height), Image.BILINEAR)
        if self.randaugment is not None and self.randaugment.num_ops > 0:
            small = self.randaugment(small, np.random.default_rng([seed, RANDAUGMENT_STREAM]))
        x = torch.from_numpy(np.array(small, dtype=np.float32)).div_(255.0).permute(2, 0, 1).contiguous()
        if self.jitter > 0:
            x = colour_jitter(x, np.random.default_rng(seed), self.jitter)
        if self.mode == "gray":
            return (x * _GRAY_WEIGHTS).sum(0, keepdim=True)
        mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
        return (x - mean) / std


def colour_jitter(x: torch.Tensor, rng: np.random.Generator, strength: float) -> torch.Tensor:
    """Brightness, contrast and saturation jitter of an RGB tensor in [0, 1] (result clamped to [0, 1])."""
    b, c, s = rng.uniform(1 - strength, 1 + strength, size=3)
    x = (x * float(b)).clamp_(0, 1)
    gray = (x * _GRAY_WEIGHTS).sum(0, keepdim=True)
    x = ((x - gray.mean()) * float(c) + gray.mean()).clamp_(0, 1)
    gray = (x * _GRAY_WEIGHTS).sum(0, keepdim=True)
    return ((x - gray) * float(s) + gray).clamp_(0, 1)
