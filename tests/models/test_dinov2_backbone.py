"""DINOv2 ViT: key names, token layout, freezing, DPN recalibration, official-weight loading."""
from __future__ import annotations

import pytest
import torch

from geovpr.errors import CheckpointError, ConfigError
from geovpr.models.checkpoint import load_official_weights, load_strict, official_weights_path
from geovpr.models.dinov2 import DINOv2Backbone, VisionTransformer, build_backbone, vit_config

OFFICIAL_BLOCK_KEYS = {
    "norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
    "ls1.gamma", "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight",
    "mlp.fc2.bias", "ls2.gamma",
}


def tiny_vit(**kw) -> VisionTransformer:
    torch.manual_seed(0)
    return VisionTransformer(**{"embed_dim": 32, "depth": 3, "num_heads": 2, "img_size": 56, **kw})


def test_official_key_names_and_shapes():
    with torch.device("meta"):
        vit = VisionTransformer(**vit_config("vitb14"))
    sd = vit.state_dict()
    top = {k for k in sd if not k.startswith("blocks.")}
    assert top == {"cls_token", "pos_embed", "mask_token", "patch_embed.proj.weight", "patch_embed.proj.bias",
                   "norm.weight", "norm.bias"}
    assert {k.split(".", 2)[2] for k in sd if k.startswith("blocks.0.")} == OFFICIAL_BLOCK_KEYS
    assert len({k.split(".")[1] for k in sd if k.startswith("blocks.")}) == 12
    assert sd["pos_embed"].shape == (1, 1370, 768)
    assert sd["blocks.0.mlp.fc1.weight"].shape == (3072, 768)
    assert sd["mask_token"].shape == (1, 768)


def test_vitg_uses_swiglu_and_registers_have_their_key():
    with torch.device("meta"):
        vit = VisionTransformer(**vit_config("vitg14", registers=True))
    sd = vit.state_dict()
    assert sd["blocks.0.mlp.w12.weight"].shape == (8192, 1536)
    assert sd["blocks.0.mlp.w3.weight"].shape == (1536, 4096)
    assert sd["register_tokens"].shape == (1, 4, 1536)
    assert len({k.split(".")[1] for k in sd if k.startswith("blocks.")}) == 40


def test_register_tokens_sit_between_cls_and_patches():
    vit = tiny_vit(num_register_tokens=2).eval()
    with torch.no_grad():
        vit.register_tokens.normal_()
        x = torch.randn(1, 3, 56, 56)
        tokens = vit.prepare_tokens(x)
    assert tokens.shape == (1, 1 + 2 + 16, 32)
    assert torch.equal(tokens[:, 1:3], vit.register_tokens)
    f, t = DINOv2Backbone(vit, num_trainable_blocks=0).eval()(x)
    assert f.shape == (1, 32, 4, 4) and t.shape == (1, 32)
    assert torch.allclose(f.flatten(2).transpose(1, 2), vit.forward_features(x)["x_norm_patchtokens"], atol=1e-6)


def test_pos_embed_is_not_resampled_at_the_stored_grid():
    vit = tiny_vit()
    assert vit.interpolate_pos_encoding(4, 4) is vit.pos_embed
    assert vit.interpolate_pos_encoding(4, 5).shape == (1, 1 + 20, 32)


def test_image_size_not_multiple_of_patch_errors_clearly():
    vit = tiny_vit()
    with pytest.raises(ConfigError, match=r"60x56 is not a multiple of the DINOv2 patch size 14"):
        vit.prepare_tokens(torch.zeros(1, 3, 60, 56))


@pytest.mark.parametrize("norm", [True, False])
def test_zero_trainable_blocks_freezes_the_whole_vit(norm):
    backbone = DINOv2Backbone(tiny_vit(), num_trainable_blocks=0, norm_layer=norm)
    trainable = [n for n, p in backbone.named_parameters() if p.requires_grad]
    assert trainable == (["model.norm.weight", "model.norm.bias"] if norm else [])
    x = torch.randn(2, 3, 56, 56)
    f, t = backbone(x)
    assert not f.requires_grad or norm  # only the trainable norm may build a graph


def test_last_blocks_train_and_the_rest_gets_no_gradient():
    backbone = DINOv2Backbone(tiny_vit(), num_trainable_blocks=1)
    f, t = backbone(torch.randn(2, 3, 56, 56))
    (f.square().mean() + t.square().mean()).backward()
    for name, p in backbone.named_parameters():
        trains = name.startswith(("model.blocks.2.", "model.norm."))
        assert p.requires_grad == trains, name
        assert (p.grad is not None) == trains, name


@pytest.mark.parametrize("n", [3, 4, 10])
def test_trainable_blocks_at_or_beyond_depth_train_every_block(n):
    # the reference freezes blocks[:-n]: empty for n >= depth, so every block trains
    backbone = DINOv2Backbone(tiny_vit(), num_trainable_blocks=n)
    assert backbone.num_trainable_blocks == backbone.config["num_trainable_blocks"] == 3  # depth
    f, t = backbone(torch.randn(2, 3, 56, 56))
    (f.square().mean() + t.square().mean()).backward()
    for name, p in backbone.named_parameters():
        trains = name.startswith(("model.blocks.", "model.norm."))
        assert p.requires_grad == trains and (p.grad is not None) == trains, name


@pytest.mark.parametrize("n", [-1, 1.5, "2", True])
def test_bad_trainable_block_counts_are_one_line_errors(n):
    with pytest.raises(ConfigError, match="num_trainable_blocks must be an integer >= 0"):
        DINOv2Backbone(tiny_vit(), num_trainable_blocks=n)


def test_dpn_recalibration_trains_through_frozen_blocks():
    backbone = DINOv2Backbone(tiny_vit(), num_trainable_blocks=0, num_recalib_blocks=2)
    assert sorted(k for k in backbone.state_dict() if k.startswith("gpn_norms.")) == [
        f"gpn_norms.{k}.projection.{i}.{p}" for k in range(2) for i in (0, 3) for p in ("bias", "weight")]
    out = backbone.forward_features(torch.randn(2, 3, 56, 56))
    assert out["dpn_exponents"].shape == (2, 2)
    assert ((out["dpn_exponents"] > 0) & (out["dpn_exponents"] < 1)).all()
    out["f"].square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in backbone.gpn_norms.parameters())
    assert all(p.grad is None for p in backbone.model.blocks.parameters())


def test_dpn_is_signed_power_plus_residual():
    from geovpr.models.dpn import DPN

    torch.manual_seed(1)
    dpn = DPN(6, 4).eval()
    x = torch.randn(3, 5, 6)
    out, e = dpn(x, return_exponent=True)
    y = x.mean(dim=1)
    ref_e = torch.sigmoid(dpn.projection[3](torch.relu(dpn.projection[0](y)))).squeeze(-1)
    assert torch.allclose(e, ref_e)
    ref = torch.sign(x) * (x.abs() + 1e-6) ** ref_e[:, None, None] + x
    assert torch.allclose(out, ref, atol=1e-6)


def test_missing_official_weights_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with torch.device("meta"):
        vit = VisionTransformer(**vit_config("vitb14"))
    expected = tmp_path / "hub" / "checkpoints" / "dinov2_vitb14_pretrain.pth"
    assert official_weights_path(vit) == expected
    with pytest.raises(CheckpointError, match="dinov2_vitb14_pretrain.pth") as err:
        load_official_weights(vit)
    assert str(expected.parent) in str(err.value)
    with pytest.raises(CheckpointError, match="not found"):
        load_official_weights(vit, tmp_path / "nope.pth")


def test_official_weights_load_strictly_from_the_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(3)
    shallow = {**vit_config("vits14"), "depth": 1}  # the file name depends on the width only
    source = VisionTransformer(**shallow)
    path = tmp_path / "hub" / "checkpoints" / "dinov2_vits14_pretrain.pth"
    path.parent.mkdir(parents=True)
    torch.save(source.state_dict(), path)
    backbone = build_backbone({**shallow, "num_trainable_blocks": 1})
    assert load_official_weights(backbone.model) == path
    assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), backbone.model.state_dict().values()))
    # A file with an extra key is refused, naming the key.
    sd = source.state_dict()
    sd["head.weight"] = torch.zeros(1)
    torch.save(sd, path)
    with pytest.raises(CheckpointError, match="unexpected keys: head.weight"):
        load_official_weights(backbone.model)


def test_tiny_vit_loads_its_own_state_dict_strictly():
    a, b = tiny_vit(), tiny_vit(depth=2)
    with pytest.raises(CheckpointError, match="unexpected keys: blocks.2"):
        load_strict(b, a.state_dict())
