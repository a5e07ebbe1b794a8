"""A built-in DINOv2 architecture never gets random weights unless asked to (issue 8, item 4)."""
from __future__ import annotations

import pytest
import torch

import geovpr
from geovpr.errors import ConfigError
from geovpr.models.architectures import RANDOM_INIT_ARCHITECTURES, list_architectures, needs_backbone_weights
from geovpr.models.dinov2 import VisionTransformer, vit_config
from geovpr.models.factory import load_model

# a ViT-S/14 with one block: the official file name depends on the width only
SHALLOW = {"backbone": {"depth": 1, "num_trainable_blocks": 1}}
DINOV2 = [n for n in list_architectures() if n.startswith(("dinov2_", "sage_"))]


def test_every_dinov2_and_sage_architecture_needs_weights():
    assert len(DINOV2) == 6
    assert [n for n in list_architectures() if needs_backbone_weights(n)] == DINOV2
    assert set(list_architectures()) - set(DINOV2) == set(RANDOM_INIT_ARCHITECTURES)
    assert not needs_backbone_weights("pixels") and not needs_backbone_weights("runs/x/model")


@pytest.mark.parametrize("name", DINOV2)
def test_builtin_without_weights_is_an_error_that_says_how(name):
    with pytest.raises(ConfigError) as err:
        load_model(name)
    msg = str(err.value)
    assert name in msg and "--backbone-weights hub|PATH" in msg and "--random-init" in msg
    assert "backbone_weights='hub'" in msg and "random_init=True" in msg
    with pytest.raises(ConfigError, match="random DINOv2"):
        geovpr.load_model(name)  # the Python API is the same function


def _official_file(tmp_path, seed: int = 5):
    torch.manual_seed(seed)
    source = VisionTransformer(**{**vit_config("vits14"), "depth": 1})
    path = tmp_path / "hub" / "checkpoints" / "dinov2_vits14_pretrain.pth"
    path.parent.mkdir(parents=True)
    torch.save(source.state_dict(), path)
    return source.state_dict(), path


def test_backbone_weights_path_and_hub_load_the_file(tmp_path, monkeypatch):
    expected, path = _official_file(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    for weights in (path, str(path), "hub"):
        model = geovpr.load_model("dinov2_vits14_salad", config=SHALLOW, backbone_weights=weights)
        got = model.backbone.model.state_dict()
        assert got.keys() == expected.keys()
        assert all(torch.equal(got[k], expected[k]) for k in expected)


def test_random_init_builds_a_random_dinov2_on_request():
    torch.manual_seed(0)
    a = load_model("dinov2_vits14_salad", config=SHALLOW, random_init=True)
    torch.manual_seed(1)
    b = load_model("dinov2_vits14_salad", config=SHALLOW, random_init=True)
    assert a.descriptor_dim == 8448 and a.backbone.out_channels == 384
    assert not torch.equal(a.backbone.model.blocks[0].attn.qkv.weight, b.backbone.model.blocks[0].attn.qkv.weight)


def test_random_init_contradicting_weights_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="contradicts"):
        load_model("dinov2_vits14_salad", config=SHALLOW, random_init=True, backbone_weights="hub")
    with pytest.raises(ConfigError, match="contradicts"):
        load_model("tiny_vit_gem", random_init=True, pretrained=tmp_path / "w.ckpt")


def test_pixels_tiny_and_checkpoints_are_unaffected(tmp_path):
    from geovpr.models.checkpoint import save_model

    assert load_model("pixels", random_init=True).config == load_model("pixels").config
    torch.manual_seed(0)
    tiny = load_model("tiny_vit_gem")
    torch.manual_seed(0)
    assert load_model("tiny_vit_gem", random_init=True).fingerprint() == tiny.fingerprint()
    folder = save_model(tiny, tmp_path / "ckpt")
    assert load_model(folder).fingerprint() == tiny.fingerprint()
    assert load_model(folder, random_init=True).fingerprint() == tiny.fingerprint()  # nothing random to allow
