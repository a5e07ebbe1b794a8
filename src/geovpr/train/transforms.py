"""Training image transform: resize to the training size and an optional light colour jitter.

Plain PIL + torch (no torchvision). The jitter of an image is drawn from its own seed (given by the
batch sampler), so augmentation is reproducible across workers, processes and resumes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from geovpr.models.base import IMAGENET_MEAN, IMAGENET_STD

_GRAY_WEIGHTS = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)


@dataclass(frozen=True)
class TrainTransform:
    """``size`` (H, W); ``mode`` "rgb" (ImageNet-normalised) or "gray" (one channel in [0, 1]).

    ``jitter`` in [0, 1): brightness, contrast and saturation factors drawn uniformly from
    ``[1 - jitter, 1 + jitter]`` (0 disables it).
    """

    size: tuple[int, int]
    mode: str = "rgb"
    jitter: float = 0.0

    def __call__(self, img: Image.Image, seed: int) -> torch.Tensor:
        height, width = self.size
        small = img.convert("RGB").resize((width, height), Image.BILINEAR)
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
