"""Batch diagnostics on constructed batches with hand-computed answers."""
import numpy as np
import pytest

from geovpr.experiments.diagnostics import batch_geography, miner_pairs, negative_similarity


def test_geography_of_places_on_a_line():
    # 3 places of 2 images each; centroids at x = 0, 30, 300
    utm = np.array([[-1, 0], [1, 0], [29, 0], [31, 0], [299, 0], [301, 0]], dtype=float)
    g = batch_geography([np.arange(6).reshape(3, 2)], utm)
    assert g["median_place_distance_m"] == pytest.approx(270.0)  # pairs 30, 300, 270
    assert g["share_place_pairs_lt_100m"] == pytest.approx(1 / 3)
    assert g["median_nearest_place_m"] == pytest.approx(30.0)  # nearest: 30, 30, 270


def _unit(deg):
    return np.array([np.cos(np.radians(deg)), np.sin(np.radians(deg))])


def test_hardest_negative_and_miner_pairs_by_hand():
    # place 0: images at 0 and 10 degrees; place 1: images at 20 and 90 degrees
    desc = {0: _unit(0), 1: _unit(10), 2: _unit(20), 3: _unit(90)}
    batch = [np.array([[0, 1], [2, 3]])]
    s = lambda a, b: np.cos(np.radians(abs(a - b)))  # noqa: E731
    neg = negative_similarity(batch, desc)
    # hardest negatives: img0 -> 20 deg, img1 -> 20 deg (10 apart), img2 -> 10 deg (10 apart), img3 -> 10 deg
    expect_neg = np.mean([s(0, 20), s(10, 20), s(20, 10), s(90, 10)])
    expect_pos = np.mean([s(0, 10), s(0, 10), s(20, 90), s(20, 90)])
    assert neg["hardest_negative_sim"] == pytest.approx(expect_neg)
    assert neg["hardest_positive_sim"] == pytest.approx(expect_pos)
    # only image 2 has a negative (10 deg away) more similar than its positive (70 deg away)
    assert neg["share_negative_above_positive"] == pytest.approx(0.25)
    m = miner_pairs(batch, desc, epsilon=0.1)
    # positive (a, p) kept when S_ap - 0.1 < max_n S_an: img0 0.885 < cos20 yes; img1 0.885 < cos10 yes;
    # img2 cos70 - 0.1 < cos10 yes; img3 cos70 - 0.1 = 0.242 < cos80 = 0.174 no  -> 3
    assert m["positive_pairs_per_batch"] == 3
    # negative (a, n) kept when S_an + 0.1 > min_p S_ap: img0 (min_pos cos10): img2 cos20 + 0.1 yes, img3 no -> 1;
    # img1 (cos10): img2 cos10 + 0.1 yes, img3 cos80 + 0.1 no -> 1; img2 (cos70): img0, img1 yes -> 2;
    # img3 (cos70): cos90 + 0.1, cos80 + 0.1 both below 0.342 -> 0
    assert m["negative_pairs_per_batch"] == 4
    assert m["share_anchors_without_pairs"] == pytest.approx(0.25)  # image 3 keeps nothing
