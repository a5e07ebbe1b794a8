"""Write a complete, *differently sized* fixture set in the layout of ``../shared/fixtures``.

The tensors come from our own models with our own random weights (not from the references), so
running the parity tests against such a set checks the harness, not the arithmetic: every size,
dimension, count and architecture setting must be read from the files' ``config`` metadata or
their arrays.  Sizes are deliberately unlike set A's: a 3-block ViT with 8 heads and MLP ratio
3, other image sizes and batch sizes, a SALAD/SoftP with other cluster counts, an 8-head
3-layer InteractHead, ``num_trainable_blocks`` beyond the depth, a DPN hidden width other than
the default, and a recall set with other Ks' data and another number of queries without
positives.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from geovpr.geo import radius_neighbors
from geovpr.models.aggregators import build_aggregator
from geovpr.models.dinov2 import DINOv2Backbone, VisionTransformer, build_backbone
from geovpr.models.vpr_model import VPRModel

VIT = {"depth": 3, "embed_dim": 64, "img_size": 140, "num_heads": 8, "patch_size": 14}
MLP_RATIO = 3.0
IMAGES = {"img_112": [3, 3, 112, 112], "img_154": [2, 3, 154, 154], "img_rect": [1, 3, 70, 126]}
AGG = {"num_channels": 48, "num_clusters": 6, "cluster_dim": 8, "token_dim": 16}
AGG_HIDDEN = 24
SOFTP_EXTRA = {"weighting_hidden_dim": 12, "singlebranch_mid_dim": 20, "singlebranch_feature_dim": 10}
HEAD = {"d_model": 16, "nhead": 8, "dim_feedforward": 40, "num_layers": 3}
TRAINABLE = 5  # > depth: the reference's blocks[:-5] trains all 3 blocks
RECALIB, DPN_HIDDEN = 2, 8
RECALL_KS = {"recall_values_vme": [1, 3, 7, 12], "recall_values_gsv_train": [1, 2, 5, 10, 30, 100],
             "recall_values_gsv_eval": [1, 4, 8, 16, 25]}


def _redraw(module: nn.Module, gen: torch.Generator) -> None:
    """Every parameter re-drawn so that nothing is zero, one or identity-like (cf. FIXTURES.md)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim >= 2:
                fan_in = math.prod(p.shape[1:])
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))
            elif name.endswith("gamma"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
        for name, p in module.named_parameters():
            if name.endswith(("pos_embed", "cls_token", "mask_token")):
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))


def _save(path: Path, tensors: dict[str, torch.Tensor], config: dict[str, Any], **meta: str) -> None:
    tensors = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
    save_file(tensors, str(path), metadata={"config": json.dumps(config, sort_keys=True), **meta})


def _vit(gen: torch.Generator) -> VisionTransformer:
    vit = VisionTransformer(**VIT, mlp_ratio=MLP_RATIO)
    _redraw(vit, gen)
    return vit.eval()


@torch.no_grad()
def _dinov2(root: Path, images: dict[str, torch.Tensor], gen: torch.Generator) -> None:
    vit = _vit(gen)
    _save(root / "dinov2_weights.safetensors", vit.state_dict(), VIT)
    io: dict[str, torch.Tensor] = {}
    for key, x in images.items():
        s = key[len("img_"):]
        h, w = vit.grid_size(x)
        io[f"pos_embed_interp_{s}"] = vit.interpolate_pos_encoding(h, w)
        out = vit.forward_features(x)
        io[f"x_norm_clstoken_{s}"], io[f"x_norm_patchtokens_{s}"] = out["x_norm_clstoken"], out["x_norm_patchtokens"]
        for norm, prefix in ((True, "wrapper_"), (False, "wrapper_nonorm_")):
            f, t = DINOv2Backbone(vit, num_trainable_blocks=min(2, vit.depth), norm_layer=norm).eval()(x)
            io[f"{prefix}f_{s}"], io[f"{prefix}t_{s}"] = f, t
    _save(root / "dinov2_io.safetensors", io, VIT)


@torch.no_grad()
def _aggregators(root: Path, gen: torch.Generator) -> None:
    grid = [2, 5, 4]  # B, h, w: 20 patches > 6 clusters
    x = torch.randn(grid[0], AGG["num_channels"], grid[1], grid[2], generator=gen)
    x = x * (0.5 + torch.rand(grid[0], 1, grid[1], grid[2], generator=gen))  # varied patch norms
    t = torch.randn(grid[0], AGG["num_channels"], generator=gen)
    cfg = {**AGG, "grid": grid}
    for name, stem, extra in (("salad", "salad", {}), ("softp", "sage_softp", SOFTP_EXTRA)):
        agg = build_aggregator({"name": name, **AGG, "hidden_dim": AGG_HIDDEN, **extra})
        _redraw(agg, gen)
        out, inter = agg.eval().forward_intermediates(x, t)
        _save(root / f"{stem}_weights.safetensors", agg.state_dict(), cfg)
        _save(root / f"{stem}_io.safetensors", {"x": x, "t": t, "out": out, **inter}, cfg)


@torch.no_grad()
def _sage_backbone(root: Path, images: dict[str, torch.Tensor], gen: torch.Generator) -> None:
    cfg = {**VIT, "image": "img_154", "num_recalib_blocks": RECALIB}
    backbone = build_backbone({**VIT, "mlp_ratio": MLP_RATIO, "num_trainable_blocks": 0,
                               "num_recalib_blocks": RECALIB, "dpn_hidden": DPN_HIDDEN})
    _redraw(backbone, gen)
    out = backbone.eval().forward_features(images[cfg["image"]])
    _save(root / "sage_backbone_weights.safetensors", backbone.state_dict(), cfg)
    _save(root / "sage_backbone_io.safetensors", {k: out[k] for k in ("f", "t", "dpn_exponents")}, cfg)


def _model(gen: torch.Generator, aggregator: dict, head: dict | None = None, **backbone: Any) -> VPRModel:
    model = VPRModel.from_config({
        "name": "fixture", "backbone": {"name": "dinov2", **VIT, "mlp_ratio": MLP_RATIO, **backbone},
        "aggregator": {**aggregator, "num_channels": VIT["embed_dim"]},
        "head": {"name": "interact", **head} if head else None,
        "preprocess": {"size": [VIT["img_size"]] * 2, "mode": "rgb"},
    })
    _redraw(model, gen)
    return model.eval()


@torch.no_grad()
def _full_salad(root: Path, images: dict[str, torch.Tensor], gen: torch.Generator) -> None:
    bb = {"norm_layer": True, "num_trainable_blocks": TRAINABLE, "return_token": True}
    cfg = {"backbone_config": bb, "cluster_dim": AGG["cluster_dim"], "image": "img_112",
           "num_clusters": AGG["num_clusters"], "token_dim": AGG["token_dim"], "vit": VIT}
    agg = {"name": "salad", **{k: AGG[k] for k in ("num_clusters", "cluster_dim", "token_dim")},
           "hidden_dim": AGG_HIDDEN}
    model = _model(gen, agg, **bb)
    x = images[cfg["image"]]
    f, t = model.features(x)
    _save(root / "full_salad_model_state_dict.safetensors", model.state_dict(), cfg,
          checkpoint_wrapper_key="state_dict")
    _save(root / "full_salad_model_io.safetensors", {"backbone_f": f, "backbone_t": t, "out": model(x)}, cfg)


@torch.no_grad()
def _full_sage_and_head(root: Path, images: dict[str, torch.Tensor], gen: torch.Generator) -> None:
    agg = {"name": "softp", "num_clusters": 4, "cluster_dim": 12, "token_dim": 16, "hidden_dim": AGG_HIDDEN,
           **SOFTP_EXTRA}  # 16 + 4 * 12 = 64 = 4 chunks of d_model 16
    cfg = {"cluster_dim": agg["cluster_dim"], "num_channels": VIT["embed_dim"], "num_clusters": agg["num_clusters"],
           "num_recalib_blocks": RECALIB, "token_dim": agg["token_dim"], "vit": VIT,
           **{k: HEAD[k] for k in ("d_model", "dim_feedforward", "nhead")}}
    model = _model(gen, agg, HEAD, num_trainable_blocks=0, num_recalib_blocks=RECALIB, dpn_hidden=DPN_HIDDEN)
    x = images["img_154"]  # not named in the metadata: the harness finds it from the feature grid
    feats = model.backbone.forward_features(x)
    plain, inter = model.aggregator.forward_intermediates(feats["f"], feats["t"])
    io = {"backbone_f": feats["f"], "backbone_t": feats["t"], "backbone_dpn_exponents": feats["dpn_exponents"],
          "agg_softweight_beta": inter["softweight_beta"], "agg_fp": inter["fp"],
          "agg_dpn_exponent": inter["dpn_exponent"], "out_no_encoder": plain,
          "out_with_encoder": model.encoder(plain, mode="batch"),
          "out_with_encoder_single": model.encoder(plain, mode="single")}
    sd = {k: v for k, v in model.state_dict().items() if not k.startswith("encoder.")}
    _save(root / "full_sage_model_state_dict.safetensors", sd, cfg, checkpoint_wrapper_key="model_state_dict",
          encoder_keys="encoder.<key> for every key of interacthead_weights.safetensors")
    _save(root / "full_sage_model_io.safetensors", io, cfg)
    head = model.encoder
    n_desc, n_chunks = 7, 5
    dim = HEAD["d_model"] * n_chunks
    hx = torch.randn(n_desc, dim, generator=gen)
    hx_unit = torch.nn.functional.normalize(torch.randn(n_desc, dim, generator=gen), dim=1)
    perm = torch.randperm(n_desc, generator=gen)
    hcfg = {**HEAD, "n_chunks": n_chunks, "n_desc": n_desc}
    hio = {"x": hx, "x_unit": hx_unit, "perm": perm,
           "out_batched": head(hx, mode="batch"), "out_single": head(hx, mode="single"),
           "out_batched_unit": head(hx_unit, mode="batch"), "out_single_unit": head(hx_unit, mode="single"),
           "out_batched_permuted": head(hx[perm], mode="batch")}
    _save(root / "interacthead_weights.safetensors", head.state_dict(), hcfg)
    _save(root / "interacthead_io.safetensors", hio, hcfg)


def _at_name(east: float, north: float, i: int) -> str:
    return f"@{east:.2f}@{north:.2f}@32@T@@@@@@@@@{i:04d}@.jpg"


def _recall(root: Path, seed: int, radius: float = 25.0) -> None:
    """Recall data like FIXTURES.md section 8, other sizes; reference numbers from faiss + the hit rule."""
    import faiss

    from geovpr.eval.retrieval import recall_at_k

    rng = np.random.default_rng(seed)
    n_db, dim = 130, 16
    db_xy = np.round(np.stack([np.arange(n_db) * 9.0 + rng.uniform(-1, 1, n_db), rng.uniform(-2, 2, n_db)], 1) * 4) / 4
    on = db_xy[rng.choice(n_db, 14, replace=False)] + np.round(rng.uniform(-16, 16, (14, 2)) * 4) / 4
    far = np.stack([rng.uniform(0, n_db * 9.0, 5), np.full(5, 400.0)], 1).round()  # 5 without positives
    boundary = db_xy[[0]] + np.array([[-15.0, -20.0]])  # exactly 25 m from database image 0
    q_xy = np.concatenate([on, far, boundary])
    kinds = ["on_street"] * len(on) + ["far"] * len(far) + ["boundary_25m"]
    freqs = rng.normal(size=(2, dim // 2)) / 30.0

    def describe(xy: np.ndarray) -> np.ndarray:
        phase = xy @ freqs
        return (np.concatenate([np.cos(phase), np.sin(phase)], 1) + 0.2 * rng.normal(size=(len(xy), dim))
                ).astype(np.float32)

    db_names = [_at_name(*xy, i) for i, xy in enumerate(db_xy)]
    q_names = [_at_name(*xy, i) for i, xy in enumerate(q_xy)]
    db_order, q_order = np.argsort(db_names), np.argsort(q_names)  # sorted() order, as a glob would give
    db_xy, q_xy = db_xy[db_order], q_xy[q_order]
    db_desc, q_desc = describe(db_xy), describe(q_xy)
    pos = radius_neighbors(db_xy, q_xy, radius)
    strict = radius_neighbors(db_xy, q_xy, np.nextafter(radius, 0.0))
    index = faiss.IndexFlatL2(dim)
    index.add(db_desc)
    d100, p100 = index.search(q_desc, 100)
    d20, p20 = index.search(q_desc, 20)

    def rec(preds, positives, ks):
        got = recall_at_k(preds, positives, ks)
        return np.array([got[k] for k in ks], dtype=np.float64)

    keep = [i for i, p in enumerate(pos) if len(p)]
    vme = RECALL_KS["recall_values_vme"]
    arrays = {
        "db_descriptors": db_desc, "query_descriptors": q_desc, "db_utm": db_xy, "query_utm": q_xy,
        "db_filenames": np.array(db_names)[db_order], "query_filenames": np.array(q_names)[q_order],
        "query_kind": np.array(kinds)[q_order],
        "positives_flat": np.concatenate(pos).astype(np.int64),
        "positives_offsets": np.concatenate([[0], np.cumsum([len(p) for p in pos])]).astype(np.int64),
        "num_positives": np.array([len(p) for p in pos], dtype=np.int64),
        "nearest_db_distance_m": np.sqrt(((q_xy[:, None] - db_xy[None]) ** 2).sum(-1)).min(1),
        "faiss_predictions_k20": p20.astype(np.int64), "faiss_sq_distances_k20": d20,
        "faiss_predictions_k100": p100.astype(np.int64), "faiss_sq_distances_k100": d100,
        **{k: np.array(v, dtype=np.int64) for k, v in RECALL_KS.items()},
        "recalls_vme_percent": 100 * rec(p20, pos, vme),
        "recalls_gsv_train_fraction": rec(p100, pos, RECALL_KS["recall_values_gsv_train"]),
        "recalls_gsv_eval_fraction": rec(p100, pos, RECALL_KS["recall_values_gsv_eval"]),
        "recalls_gsv_vme_k_fraction": rec(p100, pos, vme),
        "recalls_only_queries_with_positives_percent": np.round(
            100 * rec(p100[keep], [pos[i] for i in keep], vme), 2),
        "recalls_vme_percent_if_strict_lt_radius": 100 * rec(p20, strict, vme),
    }
    np.savez(root / "recall.npz", **arrays)


def write_fixture_set(root: Path, seed: int = 2024) -> dict[str, Any]:
    """Write every fixture file into ``root``; returns the settings that differ by design."""
    root.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    images = {k: torch.randn(shape, generator=gen) for k, shape in IMAGES.items()}
    _save(root / "images.safetensors", images, {"seed": seed, "shapes": IMAGES})
    _dinov2(root, images, gen)
    _aggregators(root, gen)
    _sage_backbone(root, images, gen)
    _full_salad(root, images, gen)
    _full_sage_and_head(root, images, gen)
    _recall(root, seed)
    return {"vit": VIT, "head": HEAD, "num_trainable_blocks": TRAINABLE, "dpn_hidden": DPN_HIDDEN}
