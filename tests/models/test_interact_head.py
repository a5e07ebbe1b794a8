"""InteractHead: key compatibility with nn.TransformerEncoder, batch vs single mode."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from geovpr.errors import ConfigError
from geovpr.models.heads import InteractHead


@pytest.fixture()
def head():
    torch.manual_seed(0)
    return InteractHead(d_model=8, nhead=2, dim_feedforward=16, num_layers=2).eval()


def test_batch_mode_equals_torch_transformer_encoder_with_the_same_keys(head):
    layer = nn.TransformerEncoderLayer(8, 2, 16, 0.1, activation="gelu", batch_first=False)
    enc = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False).eval()
    enc.load_state_dict(head.state_dict(), strict=True)  # same key names
    x = torch.randn(5, 24)
    with torch.no_grad():
        assert torch.allclose(head(x, mode="batch"), enc(x.view(5, 3, 8)).reshape(5, 24), atol=1e-5)


def test_single_mode_equals_one_image_per_call(head):
    x = torch.randn(4, 24)
    with torch.no_grad():
        alone = torch.cat([head(x[i: i + 1], mode="batch") for i in range(4)])
        assert torch.allclose(head(x), alone, atol=1e-5)  # default mode is single
        y = x.clone()
        y[3] = torch.randn(24)
        # batch mode: image 0 changes when image 3 changes; single mode: it does not
        assert not torch.allclose(head(x, mode="batch")[0], head(y, mode="batch")[0], atol=1e-4)
        assert torch.allclose(head(x)[0], head(y)[0], atol=1e-6)


def test_mode_and_dimension_errors(head):
    with pytest.raises(ConfigError, match="mode"):
        head.mode = "transductive"
    with pytest.raises(ConfigError, match="not a multiple"):
        head(torch.randn(2, 20))
    assert head.config["mode"] == "single"
