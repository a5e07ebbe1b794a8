"""Shared code of the parity tests: tolerances, fixture reading, options from metadata.

Every architecture setting comes from the fixture files' ``config`` metadata (or, for
values the metadata does not state, from tensor shapes), never from constants, so a second
fixture set with other dims, seeds and batch sizes is checked the same way. Tolerances are
the ``atol / rtol`` of FIXTURES.md: ``|mine - ref| <= atol + rtol * |ref|``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch

TOLERANCES: dict[str, tuple[float, float]] = {
    "dinov2/pos_embed_interp": (1e-6, 0.0),
    "dinov2/*": (5e-5, 1e-5),
    "salad/out": (2e-6, 0.0),
    "salad/log_transport_with_dustbin": (1e-4, 1e-5),
    "salad/*": (5e-5, 1e-5),
    "sage_softp/out": (2e-6, 0.0),
    "sage_softp/softweight_beta": (1e-5, 1e-5),
    "sage_softp/p_softmax": (2e-6, 0.0),
    "sage_softp/fp": (1e-5, 1e-5),
    "sage_softp/dpn_exponent": (1e-5, 0.0),
    "sage_softp/*": (5e-5, 1e-5),
    "sage_backbone/f": (1e-3, 1e-4),
    "sage_backbone/t": (2e-4, 1e-5),
    "sage_backbone/dpn_exponents": (1e-5, 0.0),
    "interacthead/*": (5e-5, 1e-5),
    "full_salad_model/out": (2e-6, 0.0),
    "full_salad_model/*": (5e-5, 1e-5),
    "full_sage_model/backbone_f": (1e-3, 1e-4),
    "full_sage_model/backbone_t": (2e-4, 1e-5),
    "full_sage_model/backbone_dpn_exponents": (1e-5, 0.0),
    "full_sage_model/agg_dpn_exponent": (1e-5, 0.0),
    "full_sage_model/out_no_encoder": (2e-6, 0.0),
    "full_sage_model/*": (5e-5, 1e-5),
}

#: name → largest |diff| seen in this session (printed in the terminal summary).
MAX_DIFFS: dict[str, float] = {}


def tolerance(group: str, tensor: str) -> tuple[float, float]:
    """The FIXTURES.md tolerance of ``group/tensor`` (size suffixes _224/_322/_rect ignored)."""
    base = tensor
    for suffix in ("_224", "_322", "_rect"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    for key in (f"{group}/{base}", f"{group}/*"):
        if key in TOLERANCES:
            return TOLERANCES[key]
    raise KeyError(f"no tolerance for {group}/{tensor}")


def assert_matches(mine: torch.Tensor, ref: torch.Tensor, group: str, tensor: str) -> float:
    """Assert ``|mine - ref| <= atol + rtol·|ref|`` elementwise; returns the max |diff|."""
    atol, rtol = tolerance(group, tensor)
    mine = mine.detach().to("cpu", torch.float32)
    assert mine.shape == ref.shape, f"{group}/{tensor}: shape {tuple(mine.shape)} != {tuple(ref.shape)}"
    diff = (mine - ref).abs()
    worst = float(diff.max())
    MAX_DIFFS[f"{group}/{tensor}"] = max(worst, MAX_DIFFS.get(f"{group}/{tensor}", 0.0))
    excess = diff - (atol + rtol * ref.abs())
    assert float(excess.max()) <= 0, f"{group}/{tensor}: max |diff| {worst:.3e} exceeds atol {atol} / rtol {rtol}"
    return worst


class Fixture:
    """Tensors and ``config`` metadata of one ``.safetensors`` fixture file."""

    def __init__(self, path: Path) -> None:
        from safetensors import safe_open
        from safetensors.torch import load_file

        if not path.is_file():
            pytest.skip(f"fixture file {path} is absent")
        with safe_open(str(path), "pt") as f:
            self.metadata = f.metadata() or {}
        self.config = json.loads(self.metadata.get("config", "{}"))
        self.tensors = load_file(str(path))

    def __getitem__(self, key: str) -> torch.Tensor:
        return self.tensors[key]

    def __contains__(self, key: str) -> bool:
        return key in self.tensors


def vit_options(cfg: dict[str, Any], tensors: dict[str, torch.Tensor], prefix: str = "") -> dict[str, Any]:
    """VisionTransformer options from a fixture config; the MLP width (not in the metadata) from fc1's shape."""
    fc1 = tensors[f"{prefix}blocks.0.mlp.fc1.weight"]
    regs = tensors.get(f"{prefix}register_tokens")
    out = {
        "embed_dim": cfg["embed_dim"], "depth": cfg["depth"], "num_heads": cfg["num_heads"],
        "patch_size": cfg["patch_size"], "img_size": cfg["img_size"],
        "mlp_ratio": fc1.shape[0] / cfg["embed_dim"],
        "num_register_tokens": int(regs.shape[1]) if regs is not None else 0,
    }
    for key in ("interpolate_offset", "interpolate_antialias"):  # hub defaults unless stated
        if key in cfg:
            out[key] = cfg[key]
    return out


def backbone_options(cfg: dict[str, Any], tensors: dict[str, torch.Tensor], prefix: str = "") -> dict[str, Any]:
    """SAGE backbone options (released: frozen, final norm, token, DPN after the last K blocks);
    the DPN hidden width (not in the metadata) from the first DPN's weight shape."""
    out = {"name": "dinov2", "num_trainable_blocks": 0, "norm_layer": True, "return_token": True,
           "num_recalib_blocks": cfg["num_recalib_blocks"]}
    first = tensors.get(f"{prefix}gpn_norms.0.projection.0.weight")
    if first is not None:
        out["dpn_hidden"] = int(first.shape[0])
    return out


def image_for(cfg: dict[str, Any], images: "Fixture", feature_map: torch.Tensor, patch_size: int) -> torch.Tensor:
    """The fixture image a model was run on: ``cfg["image"]`` when stated, else the one whose batch
    size and patch grid match ``feature_map`` [B, C, h, w] (exactly one must)."""
    if "image" in cfg:
        return images[cfg["image"]]
    b, _, h, w = feature_map.shape
    found = [k for k, x in images.tensors.items()
             if (x.shape[0], x.shape[2], x.shape[3]) == (b, h * patch_size, w * patch_size)]
    assert len(found) == 1, f"cannot tell the input image of a [{b}, *, {h}, {w}] feature map: {found}"
    return images[found[0]]


def head_options(cfg: dict[str, Any]) -> dict[str, Any]:
    """InteractHead settings stated in a fixture config (``nhead`` cannot be read from weights)."""
    return {k: cfg[k] for k in ("nhead", "d_model", "dim_feedforward", "num_layers") if k in cfg}


def fixtures_root() -> Path:
    """$GEOVPR_FIXTURES or ``<repo root>/../shared/fixtures`` (same rule as tests/conftest.py)."""
    repo = Path(__file__).resolve().parents[2]
    return Path(os.environ.get("GEOVPR_FIXTURES", repo.parent / "shared" / "fixtures"))


def image_suffixes(default: tuple[str, ...] = ("224", "322", "rect")) -> tuple[str, ...]:
    """Image suffixes present in ``dinov2_io`` (read at collection time; defaults when absent)."""
    path = fixtures_root() / "dinov2_io.safetensors"
    if not path.is_file():
        return default
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        found = sorted(k[len("pos_embed_interp_"):] for k in f.keys() if k.startswith("pos_embed_interp_"))
    return tuple(found) or default
