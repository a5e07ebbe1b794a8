"""The shipped base model ``synth_base``: loads by name, and its files match the recipe that made it."""
import json
from pathlib import Path

import pytest
import torch
import yaml

import geovpr.weights as weights
from geovpr.models.factory import load_model

REPO = Path(__file__).resolve().parents[2]
FOLDER = Path(weights.__file__).resolve().parent / "synth_base"


def test_synth_base_loads_by_name_and_matches_its_recipe():
    assert weights.shipped_weights("synth_base") == FOLDER and weights.shipped_weights("nope") is None
    model = load_model("synth_base")
    recipe = yaml.safe_load((REPO / "src" / "geovpr" / "recipes" / "synth_base.yaml").read_text())
    assert (FOLDER / "recipe.yaml").read_text() == (REPO / "src" / "geovpr" / "recipes" / "synth_base.yaml").read_text()
    config = json.loads((FOLDER / "config.json").read_text())["model"]
    for key, value in recipe["model"]["config"]["backbone"].items():
        assert config["backbone"][key] == value, key
    for key, value in recipe["model"]["config"]["aggregator"].items():
        assert config["aggregator"][key] == value, key
    side = recipe["model"]["options"]["image_size"]
    assert list(model.preprocess.size) == [side, side]
    agg = recipe["model"]["config"]["aggregator"]
    out = model(torch.rand(2, 3, side, side))
    assert out.shape == (2, agg["num_clusters"] * agg["cluster_dim"] + agg["token_dim"])
    assert torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-5)


def test_shipped_folder_is_small_and_documented():
    total = sum(p.stat().st_size for p in FOLDER.iterdir())
    assert total <= 20 * 2**20
    text = (FOLDER / "TRAINING.md").read_text()
    assert "geovpr train --recipe recipes/synth_base.yaml" in text
    assert (FOLDER / "metrics.csv").read_text().startswith(("b_acc", "step", "epoch"))


def test_a_path_named_like_a_shipped_model_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exception):
        (tmp_path / "synth_base").mkdir()
        load_model("synth_base")  # an existing (empty) folder is taken as a checkpoint path, not the shipped model
