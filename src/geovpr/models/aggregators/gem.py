"""GeM: generalised-mean pooling of the feature map with a learnable exponent, then L2."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn



class GeM(nn.Module):
    """``L2((mean over positions of clamp(f, eps)^p)^(1/p))``; key ``p`` (shape [1]).

    ``num_channels`` only records the output width (the pooling has no per-channel weights).
    """

    def __init__(self, num_channels: int | None = None, p: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.num_channels, self.eps = num_channels, eps
        self.p = nn.Parameter(torch.ones(1) * p)

    @property
    def out_dim(self) -> int:
        if self.num_channels is None:
            raise AttributeError("GeM built without num_channels has no fixed out_dim")
        return self.num_channels

    @property
    def config(self) -> dict[str, Any]:
        return {"name": "gem", "num_channels": self.num_channels, "eps": self.eps}

    def forward(self, f: Tensor, t: Tensor | None = None) -> Tensor:
        pooled = f.clamp(min=self.eps).pow(self.p).mean(dim=(2, 3)).pow(1.0 / self.p)
        return F.normalize(pooled, dim=-1)
