"""The raw-pixel baseline: a tiny grayscale thumbnail as the descriptor.

Each image is converted to PIL ``"L"`` (ITU-R 601-2 luma, uint8), resized with
PIL bilinear to 32 wide x 24 high (uint8 result), then — in float32 — its own
mean is subtracted and it is L2-normalised. Comparing unit vectors by L2
distance ranks exactly like cosine similarity. This is the "how low can you
go" baseline of Milford (2013); on VPR-Bench's Corridor it gives
R@1/5/10 = 0.270 / 0.532 / 0.811 (tests/eval/test_pixels_corridor.py).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from geovpr.data.preprocess import Preprocess
from geovpr.models.base import DescriptorModel

THUMB_HEIGHT = 24
THUMB_WIDTH = 32


class PixelsModel(DescriptorModel):
    """Mean-removed, L2-normalised 32x24 grayscale thumbnails (768-D)."""

    def __init__(self) -> None:
        super().__init__()
        self.preprocess = Preprocess(size=(THUMB_HEIGHT, THUMB_WIDTH), mode="gray")

    @property
    def descriptor_dim(self) -> int:
        height, width = self.preprocess.size
        return height * width

    @property
    def config(self) -> dict[str, Any]:
        return {"name": "pixels"}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, 1, H, W]`` in [0, 1] → descriptors ``[B, H*W]`` (unit norm; a flat image gives 0)."""
        flat = x.reshape(x.shape[0], -1).float()
        flat = flat - flat.mean(dim=1, keepdim=True)
        return F.normalize(flat, p=2, dim=1)
