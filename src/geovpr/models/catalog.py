"""What ``geovpr models`` lists: every model loadable by name, with descriptor size, input size and weights.

Sizes come from the configs (only the small aggregator is built to read its
``out_dim``), so listing never builds a ViT.
"""
from __future__ import annotations

import importlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from geovpr.models.architectures import ARCHITECTURES, RANDOM_INIT_ARCHITECTURES, get_architecture


@dataclass(frozen=True)
class ModelInfo:
    """One named model: ``weights`` says what it needs before its descriptors mean anything."""

    name: str
    kind: str  # "baseline" | "architecture" | "shipped"
    descriptor_dim: int
    input_size: tuple[int, int]  # (height, width)
    weights: str

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "input_size": list(self.input_size)}


def config_descriptor_dim(cfg: dict[str, Any]) -> int:
    """Descriptor size of a VPRModel config: its aggregator's ``out_dim``."""
    from geovpr.models.aggregators import build_aggregator

    return int(build_aggregator(cfg["aggregator"]).out_dim)


def _size(cfg: dict[str, Any]) -> tuple[int, int]:
    h, w = cfg["preprocess"]["size"]
    return int(h), int(w)


def _architecture(name: str) -> ModelInfo:
    cfg = get_architecture(name)
    weights = ("none: random init, trained from scratch" if name in RANDOM_INIT_ARCHITECTURES
               else "DINOv2 backbone (--backbone-weights hub|PATH) or a trained checkpoint")
    return ModelInfo(name, "architecture", config_descriptor_dim(cfg), _size(cfg), weights)


def _pixels() -> ModelInfo:
    from geovpr.models.pixels import PixelsModel

    model = PixelsModel()
    return ModelInfo("pixels", "baseline", model.descriptor_dim, tuple(model.preprocess.size), "none: no parameters")


def _shipped() -> list[ModelInfo]:
    """Trained models shipped inside the package (``geovpr.weights``), when this version has any."""
    try:
        weights = importlib.import_module("geovpr.weights")
    except ModuleNotFoundError:
        return []
    found = []
    for name in weights.list_shipped():
        folder: Path | None = weights.shipped_weights(name)
        if folder is None:
            continue
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        cfg = cfg.get("model", cfg)
        found.append(ModelInfo(name, "shipped", config_descriptor_dim(cfg), _size(cfg), "shipped in the package"))
    return found


def list_models() -> list[ModelInfo]:
    """The pixel baseline, the built-in architectures (sorted) and any shipped trained models."""
    return [_pixels(), *(_architecture(n) for n in sorted(ARCHITECTURES)), *_shipped()]


def format_models(models: list[ModelInfo]) -> str:
    """A plain-text table of :func:`list_models`."""
    header = ("name", "kind", "descriptor", "input HxW", "weights")
    rows = [(m.name, m.kind, str(m.descriptor_dim), f"{m.input_size[0]}x{m.input_size[1]}", m.weights) for m in models]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = ["  ".join([*(c.ljust(w) for c, w in zip(r[:-1], widths)), r[-1]]).rstrip() for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in [*widths, len(header[-1])]))
    return "\n".join(lines)
