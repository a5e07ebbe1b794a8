"""GridPool: a spatial-layout descriptor -- the feature map pooled to a fixed grid, projected, flattened.

Orderless pooling (GeM, SALAD) throws away where things are in the image. On footage taken along
a fixed path with a fixed camera (a train's front camera: Nordland) the layout of the scene is most of
what identifies a place -- the raw-pixel baseline (a thumbnail) works for that reason. GridPool keeps
it: ``f [B, C, h, w]`` is average-pooled to ``grid = (gh, gw)`` cells (``adaptive_avg_pool2d``), each
cell is projected to ``dim`` channels by a 1x1 convolution (weights ``proj.weight [dim, C, 1, 1]``,
``proj.bias [dim]``), and the ``[B, dim, gh, gw]`` result is flattened channel-major (index
``c * gh * gw + y * gw + x``) and L2-normalised: ``out_dim = dim * gh * gw``.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from geovpr.errors import ConfigError


class GridPool(nn.Module):
    """See the module docstring. ``num_channels`` C (input width), ``grid`` (gh, gw), ``dim`` per cell."""

    def __init__(self, num_channels: int, grid: Sequence[int] = (4, 8), dim: int = 16) -> None:
        super().__init__()
        grid = tuple(int(g) for g in grid)
        if len(grid) != 2 or min(grid) < 1 or int(dim) < 1 or int(num_channels) < 1:
            raise ConfigError(f"grid aggregator: need num_channels >= 1, grid [gh, gw] >= 1 and dim >= 1, "
                              f"got {num_channels}, {list(grid)}, {dim}")
        self.num_channels, self.grid, self.dim = int(num_channels), grid, int(dim)
        self.proj = nn.Conv2d(self.num_channels, self.dim, kernel_size=1)

    @property
    def out_dim(self) -> int:
        return self.dim * self.grid[0] * self.grid[1]

    @property
    def config(self) -> dict[str, Any]:
        return {"name": "grid", "num_channels": self.num_channels, "grid": list(self.grid), "dim": self.dim}

    def forward(self, f: Tensor, t: Tensor | None = None) -> Tensor:
        cells = F.adaptive_avg_pool2d(f, self.grid)
        return F.normalize(self.proj(cells).flatten(1), dim=-1)
