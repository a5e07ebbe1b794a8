"""SAGE's cross-image encoder in batch (reference) and single modes (fixture 5)."""
from __future__ import annotations

import pytest

from geovpr.models.checkpoint import load_strict
from geovpr.models.heads import InteractHead
from parity_utils import assert_matches

pytestmark = pytest.mark.parity


@pytest.fixture(scope="module")
def head(load_fixture):
    weights = load_fixture("interacthead_weights")
    cfg = weights.config
    model = InteractHead(cfg["d_model"], cfg["nhead"], cfg["dim_feedforward"], cfg["num_layers"])
    load_strict(model, weights.tensors)
    return model.eval()


@pytest.mark.parametrize("suffix", ["", "_unit"])
def test_batch_and_single_modes(head, load_fixture, suffix):
    io = load_fixture("interacthead_io")
    x = io[f"x{suffix}"]
    assert_matches(head(x, mode="batch"), io[f"out_batched{suffix}"], "interacthead", f"out_batched{suffix}")
    assert_matches(head(x, mode="single"), io[f"out_single{suffix}"], "interacthead", f"out_single{suffix}")
    head.mode = "single"  # the default mode is the per-image one
    assert_matches(head(x), io[f"out_single{suffix}"], "interacthead", f"out_single{suffix}")


def test_batch_mode_permuted(head, load_fixture):
    io = load_fixture("interacthead_io")
    out = head(io["x"][io["perm"]], mode="batch")
    assert_matches(out, io["out_batched_permuted"], "interacthead", "out_batched_permuted")
