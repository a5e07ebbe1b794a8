"""The parity harness on a second, differently sized fixture set written on the fly.

``fixture_set.write_fixture_set`` writes every fixture file with our own random models and
other dimensions than set A (3 blocks, 8 ViT heads, 8 InteractHead heads, trainable blocks
beyond the depth, other batch/image sizes, another number of queries without positives). The
parity tests and the recall-fixture test then run on it in a child pytest: they pass only if
they take every size and setting from the files, as they must for the hidden second set.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fixture_set import write_fixture_set

from geovpr.models.foreign import infer_head_config

pytestmark = pytest.mark.parity
TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def other_set(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("fixtures_b")
    return root, write_fixture_set(root)


def test_the_written_set_differs_where_it_matters(other_set) -> None:
    root, made = other_set
    assert made["num_trainable_blocks"] > made["vit"]["depth"]
    # the loader cannot see nhead in the weights: its default must not happen to be the set's value
    assert made["head"]["nhead"] != infer_head_config({
        "encoder.layers.0.self_attn.in_proj_weight": np.zeros((3 * made["head"]["d_model"], made["head"]["d_model"])),
        "encoder.layers.0.linear1.weight": np.zeros((made["head"]["dim_feedforward"], made["head"]["d_model"])),
    })["nhead"]
    with np.load(root / "recall.npz") as z:
        assert np.count_nonzero(z["num_positives"] == 0) > 0


def test_parity_suite_passes_on_a_differently_sized_set(other_set) -> None:
    root, _ = other_set
    env = {**os.environ, "GEOVPR_FIXTURES": str(root)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
           str(TESTS / "parity"), str(TESTS / "eval" / "test_recall_fixture.py"),
           "--ignore", str(Path(__file__).resolve())]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=TESTS.parent, timeout=540)
    tail = run.stdout[-4000:] + run.stderr[-2000:]
    assert run.returncode == 0, tail
    summary = [line for line in run.stdout.splitlines() if re.search(r"\d+ passed", line)]
    assert summary and "skipped" not in summary[-1] and "failed" not in summary[-1], tail
