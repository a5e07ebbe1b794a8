"""The demo's quick mode end to end: the protocol's files and keys, and numbers recomputed from them."""
import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from geovpr.demo import ARMS, QUICK, run_demo
from geovpr.experiments.method_effect import RECALL_KEYS, STRICT_KEY, HeldOut, encode, score
from geovpr.data.synthetic.dense_io import district_eval_set
from geovpr.eval.visualize import grid_size
from geovpr.models.factory import load_model


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    run_demo(out, dataclasses.replace(QUICK, progress=False))
    return out


def _json(out, name):
    return json.loads((out / name).read_text())


def test_results_json_has_every_arm_with_seeds_and_intervals(demo_out):
    results = _json(demo_out, "results.json")
    assert list(results) == list(ARMS)
    for r in results.values():
        assert len(r["recall_seeds"]) == QUICK.seeds == len(r["seeds"])
        for k in RECALL_KEYS:
            per_seed = [s[k] for s in r["recall_seeds"]]
            assert r["recall"][k] == pytest.approx(np.mean(per_seed), abs=1e-12)
            lo, hi = r["recall_ci"][k]
            assert 0.0 <= lo <= r["recall"][k] <= hi <= 1.0
        rec = [r["recall"][k] for k in ("1", "5", "10")]
        assert rec == sorted(rec) and r["recall"][STRICT_KEY] <= r["recall"]["1"]
        assert set(r["gds"]) >= {"slope_0_25m", "misordering", "top10_ordering_error", "top10_kendall_tau"}
    assert len(results["sage"]["sage_fallback_share_per_epoch"]) == QUICK.seeds


def test_environment_is_recorded(demo_out, check_environment):
    check_environment(json.loads((demo_out / "environment.json").read_text()))
    for arm in ARMS:  # each fine-tuning run's folder has its own record
        runs = json.loads((demo_out / "runs" / arm / "seed0" / "environment.json").read_text())
        assert len(runs) == 1
        check_environment(runs[0])


def test_paired_differences_are_the_differences_of_the_means(demo_out):
    results = _json(demo_out, "results.json")
    assert "difference_vs_random" not in results["random"]
    for arm in ("cliquemining", "sage"):
        for k in RECALL_KEYS:
            d = results[arm]["difference_vs_random"][k]
            assert d["mean"] == pytest.approx(results[arm]["recall"][k] - results["random"]["recall"][k], abs=1e-12)
            assert d["ci"][0] <= d["mean"] <= d["ci"][1]
            assert d["verdict"] in ("helps", "hurts", "no detectable effect")


def test_baselines_and_validation_choice(demo_out):
    baselines = _json(demo_out, "baselines.json")
    assert set(baselines) == {"pixels", "base", "untrained"}
    assert all(set(b["recall"]) == set(RECALL_KEYS) for b in baselines.values())
    val = _json(demo_out, "validation.json")
    assert val["query_condition"] in val["table"]["base"] and set(val["table"]) == {"base", "pixels"}


def test_a_saved_run_reproduces_its_reported_recall(demo_out):
    results = _json(demo_out, "results.json")
    cond = _json(demo_out, "validation.json")["query_condition"]
    ho = HeldOut.from_eval_set(district_eval_set(demo_out / "world" / "eval", cond))
    model = load_model(demo_out / "runs" / "cliquemining" / "seed1" / "model")
    rec = score(encode(model, ho, batch_size=64), ho, with_gds=False).recall
    assert rec == pytest.approx(results["cliquemining"]["recall_seeds"][1], abs=1e-12)
    base = score(encode(load_model("synth_base"), ho, batch_size=64), ho, with_gds=False).recall
    assert base == pytest.approx(_json(demo_out, "baselines.json")["base"]["recall"], abs=1e-12)


def test_report_and_pictures_are_written(demo_out):
    for name in ("recall.png", "gds.png"):
        with Image.open(demo_out / name) as im:
            assert im.format == "PNG"
    with Image.open(demo_out / "retrieval_grid.png") as im:
        assert im.size == grid_size(QUICK.grid_queries * (len(ARMS) + 1), 5)
    text = (demo_out / "report.md").read_text()
    assert "| random |" in text and "| cliquemining |" in text and "pre-registered" in text
