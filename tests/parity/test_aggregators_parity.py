"""SALAD and SAGE SoftP aggregators vs the references (fixtures 2 and 3)."""
from __future__ import annotations

import pytest

from geovpr.models.aggregators import build_aggregator
from geovpr.models.checkpoint import load_strict
from parity_utils import assert_matches

pytestmark = pytest.mark.parity


def _dims(cfg: dict, tensors: dict) -> dict:
    """Aggregator dims from the metadata; the MLP width (not stated there) from ``score.0``."""
    return {"num_channels": cfg["num_channels"], "num_clusters": cfg["num_clusters"],
            "cluster_dim": cfg["cluster_dim"], "token_dim": cfg["token_dim"],
            "hidden_dim": tensors["score.0.weight"].shape[0]}


def _build(name: str, weights) -> object:
    extra = {}
    if name == "softp":
        extra = {"weighting_hidden_dim": weights["soft_weighting.predictor.0.weight"].shape[0],
                 "singlebranch_mid_dim": weights["single_branch.0.weight"].shape[0],
                 "singlebranch_feature_dim": weights["single_branch.3.weight"].shape[0]}
    agg = build_aggregator({"name": name, **_dims(weights.config, weights.tensors), **extra})
    load_strict(agg, weights.tensors)
    return agg.eval()


def test_salad(load_fixture):
    weights, io = load_fixture("salad_weights"), load_fixture("salad_io")
    agg = _build("salad", weights)
    out, inter = agg.forward_intermediates(io["x"], io["t"])
    assert out.shape[1] == agg.out_dim == weights.config["token_dim"] + \
        weights.config["num_clusters"] * weights.config["cluster_dim"]
    assert_matches(out, io["out"], "salad", "out")
    for name in ("score", "cluster_features", "token_features", "log_transport_with_dustbin"):
        assert_matches(inter[name], io[name], "salad", name)


def test_softp(load_fixture):
    weights, io = load_fixture("sage_softp_weights"), load_fixture("sage_softp_io")
    agg = _build("softp", weights)
    out, inter = agg.forward_intermediates(io["x"], io["t"])
    assert_matches(out, io["out"], "sage_softp", "out")
    for name in ("softweight_beta", "f_mean_removed", "p_mean_removed", "p_softmax", "fp", "dpn_exponent"):
        assert_matches(inter[name], io[name], "sage_softp", name)
