"""The environment record written into every result file (geovpr.provenance)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geovpr
from geovpr import provenance
from geovpr.provenance import command_line, environment_record, git_state, package_version


def test_record_keys_and_types(check_environment):
    import numpy as np
    import torch

    rec = environment_record(device="cpu")
    check_environment(rec)
    assert rec["packages"]["numpy"] == np.__version__ and rec["packages"]["torch"] == torch.__version__
    assert rec["torch_num_threads"] == torch.get_num_threads()
    assert rec["deterministic_algorithms"] == torch.are_deterministic_algorithms_enabled()
    assert rec["tf32_matmul"] == torch.backends.cuda.matmul.allow_tf32
    assert rec["argv"] == sys.argv
    json.dumps(rec)  # JSON-able as it is


def test_command_line_scope_and_explicit_argv():
    with command_line(["geovpr", "eval", "--model", "pixels"]):
        assert environment_record()["argv"] == ["geovpr", "eval", "--model", "pixels"]
        assert environment_record(argv=["x"])["argv"] == ["x"]
    assert environment_record()["argv"] == sys.argv


def test_missing_package_is_none():
    assert package_version("geovpr-no-such-distribution") is None
    assert package_version("geovpr-no-such-distribution", "numpy") is not None


def test_git_state_outside_a_checkout_is_none(tmp_path: Path):
    (tmp_path / "__init__.py").write_text("")
    assert git_state(tmp_path) == (None, None)


def test_git_state_of_a_checkout(tmp_path: Path):
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "__init__.py").write_text("x = 1\n")
    git("add", "__init__.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "c")
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert git_state(tmp_path) == (head.strip(), False)
    (tmp_path / "__init__.py").write_text("x = 2\n")
    assert git_state(tmp_path) == (head.strip(), True)


def test_git_failure_is_none(monkeypatch, tmp_path: Path):
    def broken(*args, **kwargs):
        raise subprocess.TimeoutExpired("git", provenance.GIT_TIMEOUT_S)

    monkeypatch.setattr(provenance.subprocess, "run", broken)
    assert git_state(tmp_path) == (None, None)


def test_without_torch_loaded_torch_fields_are_none():
    code = ("import json, sys; from geovpr.provenance import environment_record; "
            "r = environment_record(); assert 'torch' not in sys.modules; print(json.dumps(r))")
    src = str(Path(geovpr.__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"}).stdout
    rec = json.loads(out)
    assert rec["torch_num_threads"] is None and rec["cuda_available"] is None and rec["tf32_matmul"] is None
    assert rec["geovpr_version"] == geovpr.__version__
