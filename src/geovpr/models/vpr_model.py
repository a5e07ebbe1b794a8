"""VPRModel: backbone → aggregator → optional InteractHead.

State-dict keys match the releases: ``backbone.model.*`` (+ ``backbone.gpn_norms.*``),
``aggregator.*`` and, with a head, ``encoder.*`` (SAGE's name for the InteractHead).
"""
from __future__ import annotations

import copy
from typing import Any

from torch import Tensor, nn

from geovpr.data.preprocess import Preprocess, standardize_images
from geovpr.errors import ConfigError
from geovpr.models.aggregators import build_aggregator
from geovpr.models.base import DescriptorModel
from geovpr.models.dinov2 import DINOv2Backbone, build_backbone
from geovpr.models.heads import InteractHead


class VPRModel(DescriptorModel):
    """Image batch ``[B, 3, H, W]`` → descriptor ``[B, D]``.

    ``config`` (JSON-able) rebuilds the architecture with :meth:`from_config`:
    ``{"name", "backbone": {...}, "aggregator": {...}, "head": {...} | None, "preprocess": {...}}``.
    """

    def __init__(
        self,
        backbone: DINOv2Backbone,
        aggregator: nn.Module,
        head: InteractHead | None = None,
        *,
        preprocess: Preprocess,
        config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.aggregator = aggregator
        self.encoder = head
        self.preprocess = preprocess
        self.name = (config or {}).get("name", "custom")
        patch = backbone.model.patch_size
        if any(side % patch for side in preprocess.size):
            raise ConfigError(f"preprocess size {tuple(preprocess.size)} is not a multiple of the patch size {patch}")
        if head is not None and aggregator.out_dim % head.d_model:
            raise ConfigError(
                f"aggregator output {aggregator.out_dim} is not a multiple of the InteractHead d_model {head.d_model}"
            )

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "VPRModel":
        """Build (random init) from a config as produced by :attr:`config`."""
        cfg = copy.deepcopy(cfg)
        for key in ("backbone", "aggregator"):
            if not isinstance(cfg.get(key), dict):
                raise ConfigError(f"model config needs a {key!r} section")
        backbone = build_backbone(cfg["backbone"])
        agg_cfg = dict(cfg["aggregator"])
        if agg_cfg.get("num_channels") is None:
            agg_cfg["num_channels"] = backbone.out_channels
        elif agg_cfg["num_channels"] != backbone.out_channels:
            raise ConfigError(
                f"aggregator num_channels {agg_cfg['num_channels']} != backbone width {backbone.out_channels}"
            )
        aggregator = build_aggregator(agg_cfg)
        head = None
        if cfg.get("head"):
            head_cfg = dict(cfg["head"])
            name = head_cfg.pop("name", "interact")
            if name != "interact":
                raise ConfigError(f"unknown head {name!r}; available: ['interact']")
            head = InteractHead(**head_cfg)
        pre = cfg.get("preprocess") or {"size": [322, 322], "mode": "rgb"}
        return cls(backbone, aggregator, head, preprocess=Preprocess.from_dict(pre), config=cfg)

    @property
    def head(self) -> InteractHead | None:
        return self.encoder

    @property
    def head_mode(self) -> str | None:
        """``"single"`` or ``"batch"`` with an InteractHead, else None."""
        return self.encoder.mode if self.encoder is not None else None

    @head_mode.setter
    def head_mode(self, mode: str) -> None:
        if self.encoder is None:
            raise ConfigError("this model has no InteractHead; head_mode does not apply")
        self.encoder.mode = mode

    @property
    def descriptor_dim(self) -> int:
        return int(self.aggregator.out_dim)

    @property
    def config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "backbone": self.backbone.config,
            "aggregator": self.aggregator.config,
            "head": self.encoder.config if self.encoder is not None else None,
            "preprocess": self.preprocess.to_dict(),
        }

    def trainable_parameters(self) -> list[nn.Parameter]:
        """What the recipe trains: every parameter with ``requires_grad`` (frozen blocks excluded)."""
        return [p for p in self.parameters() if p.requires_grad]

    def features(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """Backbone outputs ``(f [B, C, h, w], t [B, C] | None)`` (after ``preprocess.standardize``)."""
        if self.preprocess.standardize:
            x = standardize_images(x)
        return self.backbone(x)

    def aggregate(self, x: Tensor) -> Tensor:
        """Descriptor before the head (unit norm for SALAD/SoftP/GeM)."""
        f, t = self.features(x)
        return self.aggregator(f, t)

    def forward(self, x: Tensor) -> Tensor:
        desc = self.aggregate(x)
        return self.encoder(desc) if self.encoder is not None else desc
