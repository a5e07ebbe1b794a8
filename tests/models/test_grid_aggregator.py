"""GridPool ("grid"): pooled to a fixed grid, 1x1 projection, flattened channel-major, L2."""
from __future__ import annotations

import json

import pytest
import torch

from geovpr.errors import ConfigError
from geovpr.models.aggregators import build_aggregator, list_aggregators
from geovpr.models.checkpoint import save_model
from geovpr.models.factory import load_model


def test_grid_known_values_with_identity_projection() -> None:
    agg = build_aggregator({"name": "grid", "num_channels": 2, "grid": [1, 2], "dim": 2})
    with torch.no_grad():
        agg.proj.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
        agg.proj.bias.zero_()
    f = torch.tensor([[[[1.0, 3.0, 0.0, 0.0]], [[0.0, 0.0, 2.0, 2.0]]]])  # [1, C=2, h=1, w=4]
    # cells: left half (mean of columns 0-1), right half (2-3); channel 0: [2, 0], channel 1: [0, 2]
    raw = torch.tensor([2.0, 0.0, 0.0, 2.0])  # channel-major: c0 cells, then c1 cells
    expected = raw / raw.norm()
    assert agg.out_dim == 4
    assert torch.allclose(agg(f), expected.unsqueeze(0), atol=1e-7)


def test_grid_keeps_layout_gem_does_not() -> None:
    torch.manual_seed(0)
    agg = build_aggregator({"name": "grid", "num_channels": 3, "grid": [2, 2], "dim": 4})
    gem = build_aggregator({"name": "gem", "num_channels": 3})
    f = torch.rand(1, 3, 4, 4)
    flipped = torch.flip(f, dims=[3])
    with torch.no_grad():
        assert torch.allclose(gem(f), gem(flipped), atol=1e-6)
        assert not torch.allclose(agg(f), agg(flipped), atol=1e-3)


def test_grid_config_round_trip_and_bad_options(tmp_path) -> None:
    assert "grid" in list_aggregators()
    model = load_model("tiny_vit_gem", config={"aggregator": {"name": "grid", "num_channels": 48, "grid": [2, 4],
                                                              "dim": 8}}, image_size=[28, 56])
    assert model.descriptor_dim == 64
    save_model(model, tmp_path / "m")
    doc = json.loads((tmp_path / "m" / "config.json").read_text())
    assert doc["model"]["aggregator"] == {"name": "grid", "num_channels": 48, "grid": [2, 4], "dim": 8}
    x = torch.rand(2, 3, 28, 56)
    with torch.no_grad():
        assert torch.equal(load_model(tmp_path / "m")(x), model(x))
    with pytest.raises(ConfigError, match="grid aggregator"):
        build_aggregator({"name": "grid", "num_channels": 4, "grid": [0, 2]})
