"""Strict, safe loading of foreign checkpoints (release layouts) and our own."""
from __future__ import annotations

import os

import pytest
import torch

from geovpr.errors import CheckpointError
from geovpr.models.checkpoint import load_state_dict_file
from geovpr.models.foreign import infer_config
from geovpr.models.factory import load_model


@pytest.fixture()
def source():
    torch.manual_seed(0)
    return load_model("tiny_vit_softp")


def _options(model) -> dict:
    return {"backbone": {"num_heads": model.config["backbone"]["num_heads"]}}


def _save(path, obj) -> str:
    torch.save(obj, path)
    return str(path)


def test_sage_layout_infers_the_architecture(source, tmp_path):
    path = _save(tmp_path / "sage.pth", {"model_state_dict": source.state_dict(), "epoch_num": 3})
    cfg = infer_config(load_state_dict_file(path))
    want = source.config
    for key in ("embed_dim", "depth", "patch_size", "img_size", "num_recalib_blocks", "mlp_ratio"):
        assert cfg["backbone"][key] == want["backbone"][key], key
    assert cfg["aggregator"]["name"] == "softp"
    for key in ("num_clusters", "cluster_dim", "token_dim", "hidden_dim", "weighting_hidden_dim"):
        assert cfg["aggregator"][key] == want["aggregator"][key], key
    model = load_model(path, config=_options(source))
    assert model.fingerprint() != "" and torch.equal(
        model.state_dict()["aggregator.score.3.weight"], source.state_dict()["aggregator.score.3.weight"])
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        assert torch.allclose(model(x), source(x), atol=1e-6)


def test_unknown_width_needs_num_heads(source, tmp_path):
    path = _save(tmp_path / "sage.pth", {"model_state_dict": source.state_dict()})
    with pytest.raises(CheckpointError, match="num_heads"):
        load_model(path)


@pytest.mark.parametrize("damage,expected", [
    ("drop", "missing keys: aggregator.score.0.bias"),
    ("extra", "unexpected keys: aggregator.bonus"),
    ("shape", r"shape mismatches: aggregator.gpn.projection.3.bias \(checkpoint \[2\], model \[1\]\)"),
])
def test_damaged_checkpoints_name_the_keys(source, tmp_path, damage, expected):
    sd = dict(source.state_dict())
    if damage == "drop":
        del sd["aggregator.score.0.bias"]
    elif damage == "extra":
        sd["aggregator.bonus"] = torch.zeros(3)
    else:
        sd["aggregator.gpn.projection.3.bias"] = torch.zeros(2)
    path = _save(tmp_path / "bad.ckpt", {"state_dict": sd})
    with pytest.raises(CheckpointError, match=expected):
        load_model("tiny_vit_softp", pretrained=path)


def test_missing_backbone_block_is_reported(source, tmp_path):
    sd = {k: v for k, v in source.state_dict().items() if not k.startswith("backbone.model.blocks.1.")}
    path = _save(tmp_path / "bad.pth", {"model_state_dict": sd})
    with pytest.raises(CheckpointError, match="missing keys: backbone.model.blocks.1"):
        load_model("tiny_vit_softp", pretrained=path)


def test_pickles_that_need_code_are_refused(source, tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.getcwd, ())

    path = _save(tmp_path / "evil.ckpt", {"state_dict": source.state_dict(), "extra": Payload()})
    with pytest.raises(CheckpointError, match="refusing to load .*evil.ckpt"):
        load_model(path)


def test_not_a_state_dict(tmp_path):
    path = _save(tmp_path / "list.pth", [1, 2, 3])
    with pytest.raises(CheckpointError, match="holds no state dict"):
        load_state_dict_file(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_state_dict_file(tmp_path / "absent.pth")


def test_module_prefix_and_lightning_wrapper(source, tmp_path):
    sd = {f"module.{k}": v for k, v in source.state_dict().items()}
    path = _save(tmp_path / "dp.pth", {"model_state_dict": sd})
    assert set(load_state_dict_file(path)) == set(source.state_dict())


def test_checkpoint_without_backbone_weights_needs_the_official_file(tmp_path, monkeypatch):
    """SAGE releases may omit backbone.model.*: the official DINOv2 file then fills it in (never downloaded)."""
    from geovpr.models.aggregators import build_aggregator

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    agg = build_aggregator({"name": "softp", "num_channels": 384, "num_clusters": 4, "cluster_dim": 4,
                            "token_dim": 4, "hidden_dim": 4, "weighting_hidden_dim": 4,
                            "singlebranch_mid_dim": 4, "singlebranch_feature_dim": 4})
    sd = {f"aggregator.{k}": v for k, v in agg.state_dict().items()}
    path = _save(tmp_path / "sage_nobackbone.pth", {"model_state_dict": sd})
    with pytest.raises(CheckpointError, match="dinov2_vits14_pretrain.pth"):
        load_model(path)
