"""The demo at reduced size: trains with all three samplers and writes a consistent report folder."""
import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from geovpr.data.eval_set import load_eval_set
from geovpr.demo import QUICK, SAMPLERS, run_demo
from geovpr.eval.evaluate import evaluate
from geovpr.eval.visualize import grid_size
from geovpr.models.factory import load_model


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    run_demo(out, dataclasses.replace(QUICK, progress=False))
    return out


def test_results_json_has_every_sampler(demo_out):
    results = json.loads((demo_out / "results.json").read_text())
    assert list(results) == list(SAMPLERS)
    for r in results.values():
        rec = [r["recall"][k] for k in ("1", "5", "10")]
        assert all(0.0 <= x <= 1.0 for x in rec) and rec == sorted(rec)
        assert set(r["gds"]) >= {"slope_0_25m", "misordering", "top10_ordering_error", "top10_kendall_tau"}
        assert 0.0 <= r["gds"]["misordering"] <= 1.0


def test_environment_is_recorded(demo_out, check_environment):
    check_environment(json.loads((demo_out / "environment.json").read_text()))
    for name in SAMPLERS:  # each training run's folder has its own record
        runs = json.loads((demo_out / "runs" / name / "environment.json").read_text())
        assert len(runs) == 1
        check_environment(runs[0])


def test_saved_models_reproduce_the_reported_recall(demo_out):
    results = json.loads((demo_out / "results.json").read_text())
    es = load_eval_set(demo_out / "city" / "eval")
    for name in ("random", "sage"):
        model = load_model(demo_out / "runs" / name / "model")
        rec = evaluate(model, es, batch_size=64, ks=(1, 5, 10), progress=False)["recall"]
        assert rec == pytest.approx(results[name]["recall"])


def test_pictures_are_written(demo_out):
    for name in ("recall.png", "gds.png"):
        with Image.open(demo_out / name) as im:
            assert im.format == "PNG"
    with Image.open(demo_out / "retrieval_grid.png") as im:
        assert im.size == grid_size(QUICK.grid_queries * len(SAMPLERS), 5)
    assert "| random |" in (demo_out / "report.md").read_text()
    assert set(json.loads((demo_out / "baselines.json").read_text())) == {"pixels", "untrained"}


def test_training_changed_the_models(demo_out):
    # Same seed and initialisation: trained weights must differ from the untrained network and between samplers.
    from geovpr.models.checkpoint import load_state_dict_file

    sds = {n: load_state_dict_file(demo_out / "runs" / n / "model" / "model.safetensors") for n in SAMPLERS}
    key = next(k for k in sds["random"] if "blocks.1" in k and k.endswith("weight"))
    assert not np.allclose(sds["random"][key].numpy(), sds["sage"][key].numpy())
