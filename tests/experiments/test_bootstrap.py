"""Two-level bootstrap intervals and paired differences on constructed data with known answers."""
import numpy as np
import pytest

from geovpr.errors import ConfigError
from geovpr.experiments.bootstrap import interval, paired_difference, resample_means, verdict

Z975, Z90 = 1.959964, 1.281552


def _hits(q: int, frac: float) -> np.ndarray:
    x = np.zeros(q)
    x[: int(round(frac * q))] = 1
    return x


def test_degenerate_data_give_degenerate_intervals():
    ones = np.ones((3, 50))
    iv = interval(ones, n_boot=200)
    assert (iv.mean, iv.low, iv.high) == (1.0, 1.0, 1.0)
    a = np.random.default_rng(0).random((3, 50)) < 0.4
    d = paired_difference(a, a, n_boot=200)
    assert (d.mean, d.low, d.high) == (0.0, 0.0, 0.0) and verdict(d) == "no detectable effect"


def test_one_seed_matches_the_binomial_interval():
    q, p = 2000, 0.3
    iv = interval(_hits(q, p)[None], n_boot=4000, seed=1)
    half = Z975 * np.sqrt(p * (1 - p) / q)
    assert iv.mean == pytest.approx(p, abs=1e-12)
    # Monte-Carlo error of a 2.5 % quantile from 4000 resamples is a few % of the half-width
    assert iv.low == pytest.approx(p - half, abs=0.1 * half) and iv.high == pytest.approx(p + half, abs=0.1 * half)


def test_seed_variation_widens_the_interval_to_the_seed_spread():
    q = 4000
    x = np.stack([_hits(q, 0.2), _hits(q, 0.8)])
    iv = interval(x, n_boot=4000, seed=2)
    # resampled seeds: both 0.2 (prob 1/4), mixed 0.5 (1/2), both 0.8 (1/4); the 2.5 % quantile is the
    # 10 % quantile of the (0.2, 0.2) component, whose query noise (one shared query draw) has sd sqrt(0.16 / q)
    sd = np.sqrt(0.2 * 0.8 / q)
    assert iv.mean == pytest.approx(0.5)
    assert iv.low == pytest.approx(0.2 - Z90 * sd, abs=0.5 * sd)
    assert iv.high == pytest.approx(0.8 + Z90 * sd, abs=0.5 * sd)
    assert interval(x[:1], n_boot=2000).high - interval(x[:1], n_boot=2000).low < 0.05


def test_paired_difference_cancels_what_both_arms_share():
    rng = np.random.default_rng(3)
    q, seeds, m = 3000, 3, 150
    base = rng.random((seeds, q)) < rng.uniform(0.1, 0.9, size=(seeds, 1))  # seeds differ a lot
    better = base.copy()
    flip = np.flatnonzero(~base.any(axis=0))[:m]  # queries every seed misses: the better arm gets them
    better[:, flip] = True
    d = paired_difference(better, base, n_boot=3000, seed=4)
    f = m / q
    half = Z975 * np.sqrt(f * (1 - f) / q)  # per-query differences are the same in every seed
    assert d.mean == pytest.approx(f, abs=1e-12)
    assert d.low == pytest.approx(f - half, abs=0.15 * half) and d.high == pytest.approx(f + half, abs=0.15 * half)
    assert verdict(d) == "helps" and verdict(paired_difference(base, better, n_boot=500)) == "hurts"
    unpaired = interval(better, n_boot=500)
    assert unpaired.high - unpaired.low > 5 * (d.high - d.low)


def test_resampling_is_reproducible_and_checks_shapes():
    x = np.random.default_rng(5).random((2, 30))
    assert np.array_equal(resample_means(x, n_boot=50, seed=9), resample_means(x, n_boot=50, seed=9))
    with pytest.raises(ConfigError, match="same seeds and queries"):
        paired_difference(np.ones((2, 5)), np.ones((3, 5)))
    with pytest.raises(ConfigError, match="level"):
        interval(x, level=1.5)
