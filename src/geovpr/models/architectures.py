"""Named architectures: the released configurations and tiny random-init ones for tests/demo.

Each entry is a function returning a fresh VPRModel config dict (see ``VPRModel.from_config``).
"""
from __future__ import annotations

from typing import Any, Callable

from geovpr.errors import ConfigError
from geovpr.models.dinov2 import vit_config

DEFAULT_SIZE = [322, 322]


def _dinov2(variant: str, **backbone: Any) -> dict[str, Any]:
    return {"name": "dinov2", **vit_config(variant), **backbone}


def _salad(channels: int, **kw: Any) -> dict[str, Any]:
    return {"name": "salad", "num_channels": channels, "num_clusters": 64, "cluster_dim": 128,
            "token_dim": 256, **kw}


def _softp(channels: int, **kw: Any) -> dict[str, Any]:
    return {"name": "softp", "num_channels": channels, "num_clusters": 64, "cluster_dim": 128,
            "token_dim": 256, **kw}


CLIQUEMINING_BACKBONE = {"num_trainable_blocks": 4, "norm_layer": True, "return_token": True}
SAGE_BACKBONE = {"num_trainable_blocks": 0, "norm_layer": True, "return_token": True, "num_recalib_blocks": 4}
SAGE_HEAD = {"name": "interact", "d_model": 768, "nhead": 16, "dim_feedforward": 1024, "num_layers": 2,
             "mode": "single"}


def _model(name: str, backbone: dict, aggregator: dict, head: dict | None = None,
           size: list[int] | None = None) -> dict[str, Any]:
    return {"name": name, "backbone": backbone, "aggregator": aggregator, "head": head,
            "preprocess": {"size": list(size or DEFAULT_SIZE), "mode": "rgb"}}


def _tiny_vit(**kw: Any) -> dict[str, Any]:
    base = {"name": "dinov2", "embed_dim": 48, "depth": 2, "num_heads": 2, "mlp_ratio": 2.0, "patch_size": 14,
            "img_size": 112, "num_register_tokens": 0, "ffn_layer": "mlp", "interpolate_offset": 0.1,
            "interpolate_antialias": False, "norm_layer": True, "return_token": True}
    return {**base, **kw}


_TINY_AGG = {"num_channels": 48, "num_clusters": 8, "cluster_dim": 16, "token_dim": 16, "hidden_dim": 32}

ARCHITECTURES: dict[str, Callable[[], dict[str, Any]]] = {
    "dinov2_vits14_salad": lambda: _model(
        "dinov2_vits14_salad", _dinov2("vits14", **CLIQUEMINING_BACKBONE), _salad(384)),
    "dinov2_vitb14_salad": lambda: _model(
        "dinov2_vitb14_salad", _dinov2("vitb14", **CLIQUEMINING_BACKBONE), _salad(768)),
    "dinov2_vitb14_gem": lambda: _model(
        "dinov2_vitb14_gem", _dinov2("vitb14", **CLIQUEMINING_BACKBONE), {"name": "gem", "num_channels": 768}),
    "sage_vitb14_softp": lambda: _model("sage_vitb14_softp", _dinov2("vitb14", **SAGE_BACKBONE), _softp(768)),
    "sage_vitl14_softp": lambda: _model("sage_vitl14_softp", _dinov2("vitl14", **SAGE_BACKBONE), _softp(1024)),
    "sage_vitl14_softp_ih": lambda: _model(
        "sage_vitl14_softp_ih", _dinov2("vitl14", **SAGE_BACKBONE), _softp(1024), dict(SAGE_HEAD)),
    "tiny_vit_gem": lambda: _model(
        "tiny_vit_gem", _tiny_vit(num_trainable_blocks=1), {"name": "gem", "num_channels": 48}, size=[112, 112]),
    "tiny_vit_salad": lambda: _model(
        "tiny_vit_salad", _tiny_vit(num_trainable_blocks=1), {"name": "salad", **_TINY_AGG}, size=[112, 112]),
    "tiny_vit_softp": lambda: _model(
        "tiny_vit_softp", _tiny_vit(num_trainable_blocks=0, num_recalib_blocks=1),
        {"name": "softp", **_TINY_AGG, "weighting_hidden_dim": 16, "singlebranch_mid_dim": 16,
         "singlebranch_feature_dim": 8},
        size=[112, 112]),
}


# Tiny models meant to be trained from scratch; every other built-in is a DINOv2 that needs its weights.
RANDOM_INIT_ARCHITECTURES = frozenset({"tiny_vit_gem", "tiny_vit_salad", "tiny_vit_softp"})


def needs_backbone_weights(name: str) -> bool:
    """True for the built-in DINOv2 architectures (``dinov2_*``, ``sage_*``): without official
    backbone weights they are random networks, which :func:`~geovpr.models.factory.load_model`
    builds only when asked to (``random_init=True``)."""
    return name in ARCHITECTURES and name not in RANDOM_INIT_ARCHITECTURES


def list_architectures() -> list[str]:
    """Names of the built-in architectures."""
    return sorted(ARCHITECTURES)


def get_architecture(name: str) -> dict[str, Any]:
    """A fresh config dict of a built-in architecture."""
    if name not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {name!r}; built-ins: {', '.join(list_architectures())}")
    return ARCHITECTURES[name]()
