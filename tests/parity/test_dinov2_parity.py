"""DINOv2 ViT and the VPR backbone wrappers vs the official implementation (fixtures 1 and 4)."""
from __future__ import annotations

import pytest

from parity_utils import assert_matches, backbone_options, image_suffixes, vit_options
from geovpr.models.checkpoint import load_strict
from geovpr.models.dinov2 import DINOv2Backbone, VisionTransformer, build_backbone

pytestmark = pytest.mark.parity
IMAGES = image_suffixes()


@pytest.fixture(scope="module")
def vit(load_fixture):
    weights = load_fixture("dinov2_weights")
    model = VisionTransformer(**vit_options(weights.config, weights.tensors))
    load_strict(model, weights.tensors)  # official key names, strict
    return model.eval()


@pytest.mark.parametrize("size", IMAGES)
def test_pos_embed_interpolation(vit, load_fixture, size):
    io, images = load_fixture("dinov2_io"), load_fixture("images")
    h, w = vit.grid_size(images[f"img_{size}"])
    assert_matches(vit.interpolate_pos_encoding(h, w), io[f"pos_embed_interp_{size}"], "dinov2",
                   f"pos_embed_interp_{size}")


@pytest.mark.parametrize("size", IMAGES)
def test_forward_features(vit, load_fixture, size):
    io, images = load_fixture("dinov2_io"), load_fixture("images")
    out = vit.forward_features(images[f"img_{size}"])
    assert_matches(out["x_norm_clstoken"], io[f"x_norm_clstoken_{size}"], "dinov2", f"x_norm_clstoken_{size}")
    assert_matches(out["x_norm_patchtokens"], io[f"x_norm_patchtokens_{size}"], "dinov2",
                   f"x_norm_patchtokens_{size}")


@pytest.mark.parametrize("size", IMAGES)
@pytest.mark.parametrize("norm", [True, False])
def test_cliquemining_wrapper(vit, load_fixture, size, norm):
    io, images = load_fixture("dinov2_io"), load_fixture("images")
    # the wrapper was stored with 2 trainable blocks; the count does not change a forward value
    backbone = DINOv2Backbone(vit, num_trainable_blocks=2, norm_layer=norm).eval()
    f, t = backbone(images[f"img_{size}"])
    prefix = "wrapper_" if norm else "wrapper_nonorm_"
    assert_matches(f, io[f"{prefix}f_{size}"], "dinov2", f"{prefix}f_{size}")
    assert_matches(t, io[f"{prefix}t_{size}"], "dinov2", f"{prefix}t_{size}")


def test_sage_backbone_with_dpn(load_fixture):
    weights, io, images = load_fixture("sage_backbone_weights"), load_fixture("sage_backbone_io"), load_fixture("images")
    cfg = weights.config
    backbone = build_backbone({**vit_options(cfg, weights.tensors, prefix="model."),
                               **backbone_options(cfg, weights.tensors)})
    load_strict(backbone, weights.tensors)
    out = backbone.eval().forward_features(images[cfg["image"]])
    assert_matches(out["f"], io["f"], "sage_backbone", "f")
    assert_matches(out["t"], io["t"], "sage_backbone", "t")
    assert_matches(out["dpn_exponents"], io["dpn_exponents"], "sage_backbone", "dpn_exponents")

