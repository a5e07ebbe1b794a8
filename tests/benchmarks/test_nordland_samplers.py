"""benchmarks/nordland_samplers.py end to end on a tiny made-up Nordland (60 frames, a few steps)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import nordland_samplers as ns  # noqa: E402


def _fake_nordland(root: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    line = rng.integers(0, 256, size=(32, 64 + 4 * n)).astype(np.float64)
    for i in range(n):
        summer = line[:, 4 * i : 4 * i + 64]
        winter = np.clip(0.5 * summer + 100 + rng.normal(0, 5, summer.shape), 0, 255)
        for season, img in (("summer", summer), ("winter", winter)):
            (root / season).mkdir(parents=True, exist_ok=True)
            Image.fromarray(img.astype(np.uint8)).convert("RGB").save(root / season / f"images-{10 * (i + 1):05d}.png")


def _run(tmp_path: Path, extra: list[str]) -> dict:
    data = tmp_path / "nordland"
    _fake_nordland(data, 60)
    out = tmp_path / "res.json"
    argv = ["--train", str(data), "--eval", str(tmp_path / "eval"), "--make-eval-split", "--out", str(out),
            "--heldout", "20", "--base-steps", "4", "--base-epochs", "1", "--steps", "2", "--epochs", "1",
            "--seeds", "2", "--places", "4", "--section", "20", "--diag-batches", "2", "--threads", "1", *extra]
    ns.main(argv)
    return json.loads(out.read_text())


def test_pipeline_output_structure_and_split(tmp_path: Path) -> None:
    res = _run(tmp_path, [])
    for name in ("pixels", "base", "untrained", "random", "cliquemining", "sage", "mixed"):
        assert set(res[name]["recall"]) == {"1", "5", "10"}, name
        assert all(0.0 <= v <= 1.0 for v in res[name]["recall"].values())
    for arm in ("random", "cliquemining", "sage", "mixed"):
        seeds = res[arm]["recall_seeds"]
        assert len(seeds) == 2
        # the reported recall is the mean over seeds
        assert res[arm]["recall"]["1"] == pytest.approx((seeds[0]["1"] + seeds[1]["1"]) / 2, abs=1e-12)
        lo, hi = res[arm]["recall_ci"]["1"]
        assert lo <= hi
    diffs = res["paired_differences"]["value_lo_hi"]
    assert set(diffs) == {"cliquemining", "sage", "mixed"}
    assert all(d["verdict_r1"] in ("helps", "hurts", "no detectable effect") for d in diffs.values())
    assert res["settings"]["train_frames"] == 40 and res["settings"]["eval_queries"] == 20
    # the evaluation split holds exactly the last 20 frames, none of them a training frame
    data = tmp_path / "nordland"
    names = ns.frames(data)
    used = {os.path.realpath(p) for p in (tmp_path / "eval").rglob("*.png")}
    assert used == {os.path.realpath(data / s / n) for s in ("summer", "winter") for n in names[40:]}
    gt = np.load(tmp_path / "eval" / "ground_truth_new.npy", allow_pickle=True)
    assert list(gt[0, 1]) == [0, 1] and list(gt[5, 1]) == [4, 5, 6]


def test_validation_split_and_eval_frames_never_trained(tmp_path: Path) -> None:
    names = [f"images-{10 * i:05d}.png" for i in range(1, 101)]
    train, val = ns.split_frames(names, heldout=20, validation=30)
    assert train == names[:50] and val == names[50:80]
    train, held = ns.split_frames(names, heldout=20, validation=0)
    assert train == names[:80] and held == names[80:]
    with pytest.raises(SystemExit, match="must leave training frames"):
        ns.split_frames(names, heldout=60, validation=40)
