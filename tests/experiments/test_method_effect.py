"""The protocol's recipes (arms differ only in the mined sub-batch's sampler), held-out scoring, the
pre-registered choice of the query condition, and summaries recomputed from per-query hits."""
import numpy as np
import pytest

from geovpr.errors import ConfigError
from geovpr.experiments.method_effect import (
    ARMS, STRICT_KEY, Encoded, FineTune, HeldOut, Run, Score, arm_recipe, choose_query_condition,
    paired_differences, score, summarize_arm,
)
from geovpr.train.recipe import resolve_recipe


def test_arms_share_every_setting_but_the_mined_sampler():
    ft = FineTune()
    recipes = {arm: resolve_recipe(arm_recipe(arm, "synth_base", "/p", "/t", ft, seed=1)).raw for arm in ARMS}
    ref = recipes["random"]
    for arm, cfg in recipes.items():
        assert cfg["train"] == ref["train"] and cfg["model"] == ref["model"] and cfg["loss"] == ref["loss"]
        assert cfg["data"]["sources"]["places"] == ref["data"]["sources"]["places"]
        traj = cfg["data"]["sources"]["trajectories"]["sampler"]
        assert (traj["places_per_batch"], traj["images_per_place"]) == (ft.places_per_batch, ft.images_per_place)
    assert ref["model"]["config"]["backbone"] == {"num_trainable_blocks": ft.trainable_blocks, "train_embeddings": False}
    assert ref["train"]["lr"] == ft.lr and ref["train"]["scheduler"]["name"] == "none"  # constant lr
    assert recipes["cliquemining"]["data"]["sources"]["trajectories"]["sampler"]["refresh_every"] == 0
    assert recipes["sage"]["data"]["sources"]["trajectories"]["sampler"]["refresh_every"] == 1
    assert recipes["sage_place"]["data"]["sources"]["trajectories"]["sampler"]["gws_level"] == "place"
    only = arm_recipe("random", "m", None, {"reader": "folder", "path": "/f", "radius": 10.0}, ft, seed=0)
    assert list(only["data"]["sources"]) == ["trajectories"]
    assert only["data"]["sources"]["trajectories"]["reader"] == "folder"
    with pytest.raises(ConfigError, match="unknown arm"):
        arm_recipe("hard", "m", "/p", "/t", ft, seed=0)


def test_score_counts_hits_by_radius_and_by_given_positives():
    db_utm = np.array([[0.0, 0.0], [20.0, 0.0], [100.0, 0.0]])
    q_utm = np.array([[1.0, 0.0], [22.0, 0.0], [60.0, 0.0]])
    db = np.eye(3, dtype=np.float32)
    # query 0 retrieves db 1 (19 m: a hit at 25 m, a miss at 10 m); query 1 retrieves db 1 (2 m);
    # query 2 retrieves db 2 (40 m: a miss), db 0 second
    q = np.array([[0.1, 0.9, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 0.9]], dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    ho = HeldOut("toy", ["a", "b", "c"], ["x", "y", "z"], db_utm, q_utm)
    sc = score(Encoded(db, q), ho, with_gds=False)
    assert sc.hits["1"].tolist() == [True, True, False] and sc.hits[STRICT_KEY].tolist() == [False, True, False]
    assert sc.recall["1"] == pytest.approx(2 / 3) and sc.recall[STRICT_KEY] == pytest.approx(1 / 3)
    given = HeldOut("toy", ["a", "b", "c"], ["x", "y", "z"], given_positives=[np.array([0]), np.array([1]), np.array([0])])
    sc2 = score(Encoded(db, q), given)
    assert sc2.hits["1"].tolist() == [False, True, False] and sc2.hits["5"].tolist() == [True, True, True]
    assert sc2.gds == {}
    with pytest.raises(ConfigError, match="coordinates"):
        HeldOut("bad", ["a"], ["x"])


def test_the_preregistered_choice_of_the_query_condition():
    r = lambda r1, strict: {"1": r1, STRICT_KEY: strict}  # noqa: E731
    pixels = {c: r(0.2, 0.2) for c in ("summer", "winter_overcast", "dusk")}
    both = {"summer": r(0.6, 0.55), "winter_overcast": r(0.5, 0.45), "dusk": r(0.5, 0.5)}
    assert choose_query_condition(both, pixels) == "winter_overcast"  # preferred when it qualifies
    no_pref = {"summer": r(0.6, 0.58), "winter_overcast": r(0.9, 0.85), "dusk": r(0.6, 0.4)}
    assert choose_query_condition(no_pref, pixels) == "summer"  # |0.58 - 0.5| < |0.4 - 0.5|
    weak = {"summer": r(0.35, 0.35), "winter_overcast": r(0.9, 0.9), "dusk": r(0.3, 0.3)}
    # nobody qualifies (R@1 < 2x pixels or strict outside [0.3, 0.7]): the strict R@1 closest to 0.5
    assert choose_query_condition(weak, pixels) == "summer"


def _run(arm, seed, hits1):
    h = np.asarray(hits1, dtype=bool)
    hits = {"1": h, "5": h | True, "10": h | True, STRICT_KEY: h}
    return Run(arm, seed, Score(hits, {k: float(v.mean()) for k, v in hits.items()}, {}, np.zeros((len(h), 1))),
               [], [], 1.0)


def test_summaries_and_differences_recomputed_from_hits():
    runs = {"random": [_run("random", 0, [1, 0, 0, 1]), _run("random", 1, [1, 1, 0, 0])],
            "sage": [_run("sage", 0, [1, 1, 0, 1]), _run("sage", 1, [1, 1, 1, 0])]}
    summary = summarize_arm(runs["sage"], n_boot=200)
    assert summary["recall"]["1"] == pytest.approx(np.mean([0.75, 0.75]))
    assert [s["1"] for s in summary["recall_seeds"]] == [0.75, 0.75]
    assert summary["recall_ci"]["5"] == [1.0, 1.0]
    diff = paired_differences(runs, n_boot=200)
    assert list(diff) == ["sage"] and diff["sage"]["1"]["mean"] == pytest.approx(0.75 - 0.5)
    assert diff["sage"]["5"] == {"mean": 0.0, "ci": [0.0, 0.0], "verdict": "no detectable effect"}
