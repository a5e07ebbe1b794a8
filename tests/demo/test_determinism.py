"""A seeded CPU run is bit-reproducible on one machine: the quick demo's fine-tunings in two processes.

The processes differ in everything that must not matter -- Python's string-hash seed (set and
dict ordering of strings), the output folder, the process -- and share what is part of a run's
definition on a CPU: the seed and the intra-op thread count (float sums depend on how a
reduction is split; see the README).  Both CliqueMining (static bank, anchor streams) and SAGE
(bank refreshed from the model being trained every epoch) take part.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from geovpr.demo import QUICK, _world

CHILD = r'''
import hashlib, json, sys
from pathlib import Path
import torch
torch.set_num_threads(int(sys.argv[2]))
from geovpr.demo import QUICK
from geovpr.experiments.method_effect import arm_recipe
from geovpr.train.api import fit
out = Path(sys.argv[1])
world = out / "world"
report = {}
for name in ("cliquemining", "sage"):
    recipe = arm_recipe(name, QUICK.base_model, world / "train" / "gsv", world / "train" / "traj", QUICK.fine_tune, 0)
    sd = fit(recipe, out / "runs" / name).model.state_dict()
    report[name] = hashlib.sha256(b"".join(k.encode() + sd[k].numpy().tobytes() for k in sorted(sd))).hexdigest()
print("RESULT " + json.dumps(report, sort_keys=True))
'''


def _run(out: Path, hash_seed: str, threads: int) -> dict:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(out), str(threads)], env=env, capture_output=True,
                          text=True, timeout=500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_two_seeded_cpu_runs_are_bit_identical(tmp_path: Path) -> None:
    cfg = dataclasses.replace(QUICK, progress=False)
    _world(tmp_path / "a" / "world", cfg.world_seed, cfg.world_size, cfg)  # one world for both runs
    shutil.copytree(tmp_path / "a" / "world", tmp_path / "b" / "world")
    threads = torch.get_num_threads()
    first, second = _run(tmp_path / "a", "1", threads), _run(tmp_path / "b", "2", threads)
    assert set(first) == {"cliquemining", "sage"}
    assert first == second  # trained weights bit for bit (recall and GDS are functions of them)


def test_demo_runs_with_its_own_thread_count_and_restores_the_callers(monkeypatch, tmp_path: Path) -> None:
    """The demo's numbers must not depend on the machine's core count: it fixes its thread count."""
    import geovpr.demo as demo
    from geovpr.errors import ConfigError

    seen = []
    monkeypatch.setattr(demo, "_run_demo", lambda out, cfg: seen.append(torch.get_num_threads()) or {})
    before = torch.get_num_threads()
    for threads in (1, 3):
        demo.run_demo(tmp_path, dataclasses.replace(QUICK, threads=threads))
        assert torch.get_num_threads() == before
    assert seen == [1, 3] and QUICK.threads == demo.DEMO.threads == 2
    with pytest.raises(ConfigError, match="threads must be >= 1"):
        demo.run_demo(tmp_path, dataclasses.replace(QUICK, threads=0))
