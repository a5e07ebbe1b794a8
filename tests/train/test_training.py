"""Tiny-model training with each sampler: a few steps run, the loss is finite and the weights change."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from train_data import CLIQUE, RANDOM, SAGE, tiny_recipe

from geovpr.errors import ConfigError
from geovpr.models.factory import load_model
from geovpr.train.api import fit

CASES = {
    "random": {"gsv": RANDOM},
    "cliquemining": {"clique": CLIQUE},
    "sage": {"sage": SAGE},
    "mixed": {"gsv": RANDOM, "clique": CLIQUE},
}


@pytest.mark.parametrize("case", list(CASES))
def test_tiny_training_runs_and_learns(case: str, gsv_root: Path, tmp_path: Path) -> None:
    recipe = tiny_recipe(gsv_root, CASES[case], max_steps=3, steps_per_epoch=3)
    torch.manual_seed(3)
    initial = load_model("tiny_vit_salad", image_size=56).state_dict()
    result = fit(recipe, tmp_path / "run")
    trained = result.model.state_dict()
    trainable = [n for n, p in result.model.named_parameters() if p.requires_grad]
    frozen = [n for n, p in result.model.named_parameters() if not p.requires_grad]
    assert trainable and frozen  # tiny_vit_salad trains its last block + aggregator only
    assert any(not torch.equal(initial[n], trained[n]) for n in trainable)
    assert all(torch.equal(initial[n], trained[n]) for n in frozen)

    rows = list(csv.DictReader(open(tmp_path / "run" / "logs" / "version_0" / "metrics.csv")))
    losses = [float(r["loss"]) for r in rows if r.get("loss")]
    assert len(losses) == 3 and all(math.isfinite(v) and v > 0 for v in losses)
    for name in CASES[case]:
        assert any(r.get(f"loss/{name}") for r in rows)
    # LinearLR stepped per iteration: lr(t) = lr0 * (1 - 0.8 t / 4000)
    lrs = [float(r["lr"]) for r in rows if r.get("lr")]
    assert lrs == pytest.approx([1e-3 * (1 - 0.8 * t / 4000) for t in range(3)], rel=1e-6)
    # exported inference weights reload to the same descriptors
    reloaded = load_model(tmp_path / "run" / "model")
    x = torch.randn(2, 3, 56, 56)
    with torch.no_grad():
        assert torch.allclose(reloaded(x), result.model.eval()(x), atol=1e-6)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == {}


def test_missing_data_path_is_a_clear_error(gsv_root: Path, tmp_path: Path) -> None:
    recipe = tiny_recipe(gsv_root, {"gsv": RANDOM})
    recipe["data"]["sources"]["gsv"]["path"] = None
    with pytest.raises(ConfigError, match=r"data\.sources\.gsv\.path is not set"):
        fit(recipe, tmp_path / "a")
    with pytest.raises(ConfigError, match=r"data\.sources\.gsv\.path: /nonexistent/x does not exist"):
        fit(recipe, tmp_path / "b", overrides=["data.sources.gsv.path=/nonexistent/x"])


def test_epoch_end_evaluation_is_logged(gsv_root: Path, tmp_path: Path) -> None:
    """An @-named eval set built from held-out views of the training places: recall logged and saved."""
    from PIL import Image

    from geovpr.data.readers.gsv_cities import read_gsv_cities

    table = read_gsv_cities(gsv_root)
    ev = tmp_path / "eval"
    for sub in ("database", "queries"):
        (ev / sub).mkdir(parents=True)
    for place in range(6):
        rows = [i for i in range(len(table)) if table.place_ids[i] == place]
        east, north = table.utm[rows[0]]
        for sub, row in (("database", rows[0]), ("queries", rows[1])):
            Image.open(table.paths[row]).save(ev / sub / f"@{east:.2f}@{north:.2f}@32@T@@@@@@@@@{sub}{place}@.png")
    recipe = tiny_recipe(gsv_root, {"gsv": RANDOM}, max_steps=2, steps_per_epoch=2)
    recipe["data"]["eval"] = {"toy": {"path": str(ev)}}
    result = fit(recipe, tmp_path / "run")
    recall = result.metrics["toy"]["recall"]
    assert set(recall) >= {"1", "5", "10"} and result.metrics["toy"]["num_queries"] == 6
    assert all(0.0 <= v <= 1.0 for v in recall.values()) and recall["10"] == 1.0  # 6 db images: all retrieved
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["toy"]["recall"] == recall
    rows = list(csv.DictReader(open(tmp_path / "run" / "logs" / "version_0" / "metrics.csv")))
    assert [float(r["toy/R1"]) for r in rows if r.get("toy/R1")] == [pytest.approx(recall["1"], abs=1e-6)]


def test_dinov2_recipe_without_weights_fails_before_any_work(tmp_path: Path) -> None:
    recipe = tiny_recipe(tmp_path / "no_data", {"gsv": RANDOM})
    recipe["model"] = {"arch": "dinov2_vits14_salad", "options": {}}
    with pytest.raises(ConfigError, match="dinov2_vits14_salad without weights would be a random DINOv2"):
        fit(recipe, tmp_path / "run")
    recipe["model"]["options"] = {"random_init": True}  # allowed; now the (absent) data path is the error
    with pytest.raises(ConfigError, match="data.sources.gsv.path"):
        fit(recipe, tmp_path / "run")
    assert not (tmp_path / "run").exists()
