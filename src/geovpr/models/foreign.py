"""Foreign checkpoints: the architecture a state dict implies, read from its key names and shapes.

Official DINOv2 ``.pth``, CliqueMining/SALAD Lightning ``.ckpt`` and SAGE ``.pth`` files carry
weights but no config; :func:`infer_config` rebuilds a :class:`~geovpr.models.vpr_model.VPRModel`
config from the keys (ViT width, depth, registers, SwiGLU; SALAD / SoftP / GeM dimensions; DPN
recalibration; InteractHead layers), and :func:`metadata_config` reads the settings weights
cannot show from a safetensors file's ``config`` metadata.  File reading is
:mod:`geovpr.models.checkpoint`; the architecture is :mod:`geovpr.models.dinov2`.
"""
from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any, Mapping

from safetensors import safe_open
from torch import Tensor

from geovpr.errors import CheckpointError
from geovpr.models.checkpoint import short_list
from geovpr.models.dinov2 import HEADS_BY_WIDTH, variant_name, vit_config


def _block_indices(sd: Mapping[str, Tensor], prefix: str) -> list[int]:
    pat = re.compile(re.escape(prefix) + r"(\d+)\.")
    return sorted({int(m.group(1)) for k in sd if (m := pat.match(k))})


def infer_vit_config(sd: Mapping[str, Tensor], prefix: str) -> dict[str, Any]:
    """ViT dims from official DINOv2 keys under ``prefix`` (``""`` or ``"backbone.model."``)."""
    try:
        pos = sd[prefix + "pos_embed"]
        patch_w = sd[prefix + "patch_embed.proj.weight"]
    except KeyError as exc:
        raise CheckpointError(f"not a DINOv2 state dict: key {exc} is missing") from exc
    if pos.ndim != 3 or pos.shape[0] != 1 or pos.shape[1] < 2 or patch_w.ndim != 4:
        raise CheckpointError(f"not a DINOv2 state dict: {prefix}pos_embed has shape {list(pos.shape)} (expected "
                              f"[1, tokens, dim]) and {prefix}patch_embed.proj.weight {list(patch_w.shape)} (4-D)")
    dim = int(pos.shape[-1])
    depth = len(_block_indices(sd, prefix + "blocks."))
    regs = sd.get(prefix + "register_tokens")
    swiglu = (prefix + "blocks.0.mlp.w12.weight") in sd
    fc1 = sd.get(prefix + "blocks.0.mlp.fc1.weight")
    grid = int(math.isqrt(int(pos.shape[1]) - 1))
    num_regs = int(regs.shape[1]) if regs is not None else 0
    return {
        "embed_dim": dim,
        "depth": depth,
        "num_heads": HEADS_BY_WIDTH.get(dim),
        "mlp_ratio": float(fc1.shape[0]) / dim if fc1 is not None else 4.0,
        "patch_size": int(patch_w.shape[-1]),
        "img_size": grid * int(patch_w.shape[-1]),
        "num_register_tokens": num_regs,
        "ffn_layer": "swiglu" if swiglu else "mlp",
        "interpolate_offset": 0.0 if num_regs else 0.1,
        "interpolate_antialias": bool(num_regs),
    }


def _conv_mlp_dims(sd: Mapping[str, Tensor], prefix: str) -> tuple[int, int, int]:
    """(in, hidden, out) of a ``.0`` conv/linear → ``.3`` conv MLP."""
    w0, w3 = sd[prefix + ".0.weight"], sd[prefix + ".3.weight"]
    return int(w0.shape[1]), int(w0.shape[0]), int(w3.shape[0])


def infer_aggregator_config(sd: Mapping[str, Tensor], prefix: str = "aggregator.") -> dict[str, Any]:
    """Aggregator name and dims from its keys (SALAD: ``dust_bin``; SoftP: ``soft_weighting``; GeM: ``p``)."""
    keys = {k[len(prefix):] for k in sd if k.startswith(prefix)}
    if not keys:
        raise CheckpointError("checkpoint has no aggregator.* keys")
    if keys == {"p"}:
        return {"name": "gem", "p": float(sd[prefix + "p"].reshape(-1)[0])}
    try:
        channels, hidden, clusters = _conv_mlp_dims(sd, prefix + "score")
        cluster_dim = int(sd[prefix + "cluster_features.3.weight"].shape[0])
        token_dim = int(sd[prefix + "token_features.2.weight"].shape[0])
    except KeyError as exc:
        raise CheckpointError(f"unrecognised aggregator: key {exc} is missing") from exc
    cfg: dict[str, Any] = {"num_channels": channels, "num_clusters": clusters, "cluster_dim": cluster_dim,
                           "token_dim": token_dim, "hidden_dim": hidden}
    if "dust_bin" in keys:
        return {"name": "salad", **cfg}
    if any(k.startswith("soft_weighting.") for k in keys):
        cfg["weighting_hidden_dim"] = int(sd[prefix + "soft_weighting.predictor.0.weight"].shape[0])
        if prefix + "single_branch.0.weight" in sd:
            _, mid, feat = _conv_mlp_dims(sd, prefix + "single_branch")
            cfg["singlebranch_mid_dim"], cfg["singlebranch_feature_dim"] = mid, feat
        return {"name": "softp", **cfg}
    raise CheckpointError(f"unrecognised aggregator keys: {short_list(sorted(keys))}")


def infer_head_config(sd: Mapping[str, Tensor], prefix: str = "encoder.") -> dict[str, Any] | None:
    """InteractHead dims from ``encoder.layers.{i}.*`` keys, or None when there are none.

    ``nhead`` cannot be read from the weights; it defaults to SAGE's released 16 (pass
    ``config={"head": {"nhead": N}}`` to ``load_model``, or store it in the file's metadata).
    """
    layers = _block_indices(sd, prefix + "layers.")
    if not layers:
        return None
    w = sd[f"{prefix}layers.0.self_attn.in_proj_weight"]
    ff = sd[f"{prefix}layers.0.linear1.weight"]
    return {"name": "interact", "d_model": int(w.shape[1]), "nhead": 16,
            "dim_feedforward": int(ff.shape[0]), "num_layers": len(layers)}


#: ``config`` metadata keys of a released-layout safetensors file → (section, model config key)
_METADATA_KEYS = {
    ("vit", "num_heads"): ("backbone", "num_heads"),
    ("backbone_config", "num_trainable_blocks"): ("backbone", "num_trainable_blocks"),
    ("backbone_config", "norm_layer"): ("backbone", "norm_layer"),
    ("backbone_config", "return_token"): ("backbone", "return_token"),
    (None, "nhead"): ("head", "nhead"),
}


def metadata_config(path: str | os.PathLike) -> dict[str, Any]:
    """Settings the weights cannot show, from a safetensors file's JSON ``config`` metadata.

    Reads the layout of the reference fixtures (``vit.num_heads``, ``backbone_config.*``,
    ``nhead``) into a partial model config; ``{}`` for other files or without metadata.
    """
    path = Path(path)
    if path.suffix != ".safetensors" or not path.is_file():
        return {}
    try:
        with safe_open(str(path), "pt") as f:
            text = (f.metadata() or {}).get("config")
        meta = json.loads(text) if text else {}
    except Exception as exc:  # safetensors/json raise their own error types
        raise CheckpointError(f"cannot read the config metadata of {path}: {exc}") from exc
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: 'config' metadata is not a JSON object")
    out: dict[str, Any] = {}
    for (group, key), (section, name) in _METADATA_KEYS.items():
        source = meta if group is None else meta.get(group)
        if isinstance(source, dict) and key in source:
            out.setdefault(section, {})[name] = source[key]
    return out


def infer_config(sd: Mapping[str, Tensor]) -> dict[str, Any]:
    """:func:`infer_layout` with a one-line error for tensors of unexpected rank (a crafted or foreign file)."""
    try:
        return infer_layout(sd)
    except (IndexError, ValueError, TypeError) as exc:
        raise CheckpointError(f"cannot infer the architecture: a tensor has an unexpected shape ({exc})") from None


def infer_layout(sd: Mapping[str, Tensor]) -> dict[str, Any]:
    """A VPRModel config for a foreign ``backbone.* / aggregator.* [/ encoder.*]`` state dict.

    Recipe settings that the weights cannot show follow the releases: SAGE layouts (DPN or
    SoftP) are frozen (0 trainable blocks), CliqueMining/SALAD layouts train 4 blocks; both
    use the final norm and the CLS token. ``num_heads`` follows the official width mapping
    (None where unknown: the caller must supply it).
    """
    agg = infer_aggregator_config(sd)
    has_vit = any(k.startswith("backbone.model.") for k in sd)
    if has_vit:
        vit = infer_vit_config(sd, "backbone.model.")
    else:
        width = agg.get("num_channels")
        variant = variant_name(width) if width else None
        if variant is None:
            raise CheckpointError("checkpoint has no backbone.model.* keys and its width matches no official DINOv2")
        vit = vit_config(variant)
    recalib = len(_block_indices(sd, "backbone.gpn_norms."))
    sage = recalib > 0 or agg["name"] == "softp"
    backbone = {"name": "dinov2", **vit, "num_trainable_blocks": 0 if sage else min(4, vit["depth"]),
                "norm_layer": True, "return_token": True, "num_recalib_blocks": recalib}
    if recalib:
        backbone["dpn_hidden"] = int(sd["backbone.gpn_norms.0.projection.0.weight"].shape[0])
    return {"name": "checkpoint", "backbone": backbone, "aggregator": agg, "head": infer_head_config(sd)}
