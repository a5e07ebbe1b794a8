"""Exact resume: SIGKILL at a step or in the middle of a checkpoint write, re-run, bit-identical weights."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from train_data import RANDOM, SAGE, tiny_recipe

from geovpr.errors import ConfigError
from geovpr.train.api import fit

DRIVER = r'''
import json, os, signal, sys
from geovpr import atomic
from geovpr.train import api, module
import torch
recipe, out, mode, arg = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], int(sys.argv[4])
torch.set_num_threads(int(sys.argv[5]))  # same as the test process: float sums depend on the thread count
if mode == "step":
    step = module.VPRTrainingModule.training_step
    def killing_step(self, batch, idx):
        if self.trainer.global_step == arg:
            os.kill(os.getpid(), signal.SIGKILL)
        return step(self, batch, idx)
    module.VPRTrainingModule.training_step = killing_step
else:
    replace, calls = atomic._replace, [0]
    def killing_replace(src, dst):
        if dst.endswith("last.ckpt"):
            calls[0] += 1
            if calls[0] == arg:  # temp file written and fsynced, rename not done
                os.kill(os.getpid(), signal.SIGKILL)
        replace(src, dst)
    atomic._replace = killing_replace
api.fit(recipe, out)
'''


def _killed_run(tmp_path: Path, recipe: dict, out: Path, mode: str, arg: int) -> None:
    (tmp_path / "driver.py").write_text(DRIVER)
    (tmp_path / "recipe.json").write_text(json.dumps(recipe))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "recipe.json"), str(out),
                           mode, str(arg), str(torch.get_num_threads())], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def resume_recipe(gsv_root: Path) -> dict:
    # GSV random places + SAGE places refreshed every epoch; 2 epochs x 3 steps; colour jitter and RandAugment on
    return tiny_recipe(gsv_root, {"gsv": RANDOM, "sage": SAGE}, epochs=2, steps_per_epoch=3, color_jitter=0.3,
                       randaugment={"num_ops": 3, "interpolation": "bilinear"}, checkpoint_every_n_steps=2)


@pytest.fixture(scope="module")
def reference(resume_recipe: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, torch.Tensor]:
    result = fit(resume_recipe, tmp_path_factory.mktemp("ref") / "run")
    return {k: v.clone() for k, v in result.model.state_dict().items()}


def _assert_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    differing = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differing, differing


def test_kill_mid_epoch_resumes_bit_identical(resume_recipe: dict, reference: dict, tmp_path: Path,
                                              check_environment) -> None:
    out = tmp_path / "run"
    _killed_run(tmp_path, resume_recipe, out, "step", 4)  # last checkpoint: step 4, mid epoch 1
    saved = torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)
    assert saved["global_step"] == 4 and saved["epoch"] == 1
    assert (out / "checkpoints" / "mining_bank_sage.npz").is_file()
    resumed = fit(resume_recipe, out)
    _assert_identical(reference, resumed.model.state_dict())
    starts = json.loads((out / "environment.json").read_text())  # one record per (re)start
    assert len(starts) == 2
    for record in starts:
        check_environment(record)
        assert record["device"] == "cpu"
    assert starts[0]["argv"][0].endswith("driver.py")


def test_kill_during_checkpoint_write_leaves_previous_checkpoint(resume_recipe: dict, reference: dict,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "run"
    _killed_run(tmp_path, resume_recipe, out, "write", 2)  # 1st write (step 2) done, 2nd (step 3) killed
    ckpt_dir = out / "checkpoints"
    assert list(ckpt_dir.glob(".last.ckpt.*.tmp")), "the interrupted temp file should be left behind"
    saved = torch.load(ckpt_dir / "last.ckpt", weights_only=False)
    assert saved["global_step"] == 2
    resumed = fit(resume_recipe, out)
    _assert_identical(reference, resumed.model.state_dict())


def test_resume_refuses_a_different_recipe(resume_recipe: dict, tmp_path: Path) -> None:
    out = tmp_path / "run"
    fit(resume_recipe, out, overrides=["train.epochs=1", "train.max_steps=1"])
    with pytest.raises(ConfigError, match="holds a checkpoint of a different recipe"):
        fit(resume_recipe, out, overrides=["train.epochs=1", "train.max_steps=1", "train.lr=0.5"])
