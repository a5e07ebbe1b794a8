"""Shared test configuration: where the reference fixtures and the real data live."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def fixtures_root() -> Path:
    """Folder of the reference fixtures: $GEOVPR_FIXTURES or ../shared/fixtures."""
    return Path(os.environ.get("GEOVPR_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))


def shared_data_root() -> Path:
    """Folder of the real datasets beside the project: ../shared/data."""
    return Path(os.environ.get("GEOVPR_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _eval_runs_in_tmp(tmp_path_factory, monkeypatch):
    """``geovpr eval`` without ``--out`` writes a run folder: keep those out of the working tree."""
    import geovpr.eval.run_folder as run_folder

    monkeypatch.setattr(run_folder, "DEFAULT_ROOT", tmp_path_factory.mktemp("runs") / "eval")


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    root = fixtures_root()
    if not root.is_dir():
        pytest.skip(f"reference fixtures not found at {root} (set GEOVPR_FIXTURES)")
    return root


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_root()
    if not root.is_dir():
        pytest.skip(f"shared data not found at {root} (set GEOVPR_SHARED_DATA)")
    return root


def _check_environment(record: object) -> None:
    """Assert that ``record`` is a complete :func:`geovpr.provenance.environment_record`."""
    import datetime

    import geovpr

    assert isinstance(record, dict)
    assert record["geovpr_version"] == geovpr.__version__
    assert record["git_commit"] is None or (isinstance(record["git_commit"], str) and len(record["git_commit"]) == 40)
    assert record["git_dirty"] in (None, True, False)
    assert (record["git_commit"] is None) == (record["git_dirty"] is None)
    assert isinstance(record["python"], str) and record["python"].count(".") == 2
    assert set(record["packages"]) == {"torch", "numpy", "faiss", "pytorch-metric-learning", "lightning"}
    assert all(v is None or isinstance(v, str) for v in record["packages"].values())
    assert record["packages"]["numpy"] is not None
    for key in ("cuda_available", "tf32_matmul", "tf32_cudnn", "deterministic_algorithms"):
        assert record[key] in (None, True, False), key
    assert record["torch_num_threads"] is None or (isinstance(record["torch_num_threads"], int)
                                                   and record["torch_num_threads"] >= 1)
    assert record["device"] is None or isinstance(record["device"], str)
    assert record["gpu_name"] is None or isinstance(record["gpu_name"], str)
    assert isinstance(record["argv"], list) and all(isinstance(a, str) for a in record["argv"])
    stamp = datetime.datetime.fromisoformat(record["timestamp_utc"])
    assert stamp.utcoffset() == datetime.timedelta(0)


@pytest.fixture
def check_environment():
    """A function that asserts a dict is a complete environment record (keys present and typed)."""
    return _check_environment
