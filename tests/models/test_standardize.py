"""``preprocess.standardize``: per-image, per-channel standardisation as the model's first step."""
from __future__ import annotations

import json
import math

import pytest
import torch

from geovpr.errors import ConfigError
from geovpr.data.preprocess import STANDARDIZE_EPS, Preprocess, standardize_images
from geovpr.models.checkpoint import save_model
from geovpr.models.factory import load_model


def test_standardize_known_values() -> None:
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    # mean 2.5, population std sqrt(1.25)
    denom = math.sqrt(1.25) + STANDARDIZE_EPS
    expected = torch.tensor([-1.5, -0.5, 0.5, 1.5]) / denom
    out = standardize_images(x).flatten()
    assert torch.allclose(out, expected, rtol=0, atol=1e-6)


def test_standardize_is_per_channel_and_flat_image_is_zero() -> None:
    x = torch.zeros(1, 2, 3, 3)
    x[0, 0] = 7.0  # flat channel
    x[0, 1] = torch.arange(9.0).view(3, 3)
    out = standardize_images(x)
    assert torch.equal(out[0, 0], torch.zeros(3, 3))
    assert abs(float(out[0, 1].mean())) < 1e-6
    # population std of the standardised channel: std / (std + eps)
    std = float(torch.arange(9.0).std(unbiased=False))
    assert abs(float(out[0, 1].std(unbiased=False)) - std / (std + STANDARDIZE_EPS)) < 1e-6


def _tiny(standardize: bool):
    torch.manual_seed(0)
    preprocess = {"size": [28, 56], "mode": "rgb", "standardize": standardize}
    return load_model("tiny_vit_gem", config={"preprocess": preprocess})


def test_model_descriptor_ignores_brightness_and_contrast() -> None:
    model = _tiny(True)
    x = torch.rand(2, 3, 28, 56)
    with torch.no_grad():
        a = model(x)
        b = model(0.3 * x + 0.5)  # a positive affine change of every pixel value
    # both inputs standardise to the same tensor up to float32 rounding (values O(1))
    assert torch.allclose(a, b, atol=1e-4)
    plain = _tiny(False)
    with torch.no_grad():
        assert not torch.allclose(plain(x), plain(0.3 * x + 0.5), atol=1e-2)


def test_standardize_saved_in_config_json(tmp_path) -> None:
    model = _tiny(True)
    save_model(model, tmp_path / "m")
    doc = json.loads((tmp_path / "m" / "config.json").read_text())
    assert doc["preprocess"]["standardize"] is True
    loaded = load_model(tmp_path / "m")
    assert loaded.preprocess.standardize is True
    x = torch.rand(1, 3, 28, 56)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_default_config_has_no_standardize_key_and_bad_values_are_refused() -> None:
    assert Preprocess().to_dict() == {"size": [322, 322], "mode": "rgb"}
    assert Preprocess.from_dict({"size": [14, 14]}).standardize is False
    with pytest.raises(ConfigError, match="preprocess.standardize"):
        Preprocess.from_dict({"size": [14, 14], "standardize": "yes"})
