"""``train_embeddings``: the patch embedding and tokens train only when asked (from-scratch models)."""
from __future__ import annotations

import torch

from geovpr.models.factory import build_model, load_model


def _embedding_params(model):
    vit = model.backbone.model
    return {"patch_embed.proj.weight": vit.patch_embed.proj.weight, "cls_token": vit.cls_token,
            "pos_embed": vit.pos_embed}


def test_embeddings_frozen_by_default_and_trained_on_request() -> None:
    frozen = load_model("tiny_vit_gem")
    assert not any(p.requires_grad for p in _embedding_params(frozen).values())
    cfg = frozen.config
    cfg["backbone"] = {**cfg["backbone"], "train_embeddings": True}
    model = build_model(cfg)
    params = _embedding_params(model)
    assert all(p.requires_grad for p in params.values())
    assert not model.backbone.model.mask_token.requires_grad
    model.train()
    model(torch.randn(2, 3, 112, 112)).sum().backward()
    for name, p in params.items():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert model.config["backbone"]["train_embeddings"] is True
