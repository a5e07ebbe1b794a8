"""Every command that loads a model takes --backbone-weights hub|PATH and --random-init; a built-in
DINOv2 without weights is a one-line error (exit 2), never a silent random network."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geovpr.cli import main


def _name(east: float) -> str:
    return f"@{east:09.2f}@0004000000.00@17@T@@@@@@@@@@@.png"


@pytest.fixture
def eval_set(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "set"
    for split, easts in (("database", (0.0, 100.0, 200.0)), ("queries", (1.0, 199.0))):
        (root / split).mkdir(parents=True)
        for e in easts:
            Image.fromarray(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)).save(root / split / _name(e))
    return root


@pytest.fixture
def pixel_index(eval_set: Path, tmp_path: Path) -> Path:
    assert main(["index", "build", "--model", "pixels", "--images", str(eval_set / "database"),
                 "--out", str(tmp_path / "idx"), "--no-progress"]) == 0
    return tmp_path / "idx"


def _commands(root: Path, index: Path, tmp: Path, model: str) -> dict[str, list[str]]:
    return {
        "eval": ["eval", "--data", str(root), "--model", model, "--no-progress"],
        "gds": ["gds", "--data", str(root), "--model", model, "--out", str(tmp / "gds"), "--no-progress"],
        "index build": ["index", "build", "--model", model, "--images", str(root / "database"),
                        "--out", str(tmp / "idx2"), "--no-progress"],
        "index add": ["index", "add", "--index", str(index), "--model", model, "--images", str(root / "queries"),
                      "--no-progress"],
        "query": ["query", "--index", str(index), "--model", model, "--out", str(tmp / "q.json"), "--no-report",
                  str(root / "queries")],
    }


@pytest.mark.parametrize("command", ["eval", "gds", "index build", "index add", "query"])
def test_builtin_dinov2_without_weights_exits_2_and_says_how(command, eval_set, pixel_index, tmp_path, caplog):
    argv = _commands(eval_set, pixel_index, tmp_path, "dinov2_vits14_salad")[command]
    assert main(argv) == 2
    assert "--backbone-weights hub|PATH" in caplog.text and "--random-init" in caplog.text
    assert not (tmp_path / "idx2").exists() and not (tmp_path / "q.json").exists() and not (tmp_path / "gds").exists()


@pytest.mark.parametrize("command", ["eval", "gds", "index build"])
def test_missing_weights_fail_before_any_data_is_read(command, tmp_path, caplog):
    argv = _commands(tmp_path / "absent", tmp_path / "no_index", tmp_path, "sage_vitb14_softp")[command]
    assert main(argv) == 2
    assert "sage_vitb14_softp without weights would be a random DINOv2" in caplog.text
    assert "not found" not in caplog.text  # the data folder was never looked at


@pytest.mark.parametrize("command", ["eval", "gds", "index build", "index add", "query"])
def test_backbone_weights_reach_the_loader(command, eval_set, pixel_index, tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    base = _commands(eval_set, pixel_index, tmp_path, "dinov2_vits14_salad")[command]
    assert main(base + ["--backbone-weights", str(tmp_path / "absent.pth")]) == 2
    assert f"DINOv2 weights file not found: {tmp_path / 'absent.pth'}" in caplog.text
    caplog.clear()
    assert main(base + ["--backbone-weights", "hub"]) == 2  # the hub cache file, never downloaded
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / "dinov2_vits14_pretrain.pth") in caplog.text


def test_random_init_evaluates_on_request(eval_set, tmp_path):
    out = tmp_path / "r.json"
    assert main(["eval", "--data", str(eval_set), "--model", "dinov2_vits14_salad", "--random-init",
                 "--image-size", "126", "126", "--out", str(out), "--no-progress"]) == 0
    result = json.loads(out.read_text())
    assert result["descriptor_dim"] == 8448 and result["num_queries"] == 2  # 9 x 9 patches > 64 clusters
    assert result["environment"]["argv"][:4] == ["geovpr", "eval", "--data", str(eval_set)]


def test_weight_options_without_model_are_refused_for_index_add_and_query(eval_set, pixel_index, tmp_path, caplog):
    assert main(["query", "--index", str(pixel_index), "--backbone-weights", "hub", "--out", str(tmp_path / "q.json"),
                 str(eval_set / "queries")]) == 2
    assert "apply to --model" in caplog.text
    assert main(["index", "add", "--index", str(pixel_index), "--random-init", "--images",
                 str(eval_set / "queries"), "--no-progress"]) == 2


def test_index_records_the_weight_options(eval_set, tmp_path):
    assert main(["index", "build", "--model", "tiny_vit_gem", "--random-init", "--images", str(eval_set / "database"),
                 "--out", str(tmp_path / "idx"), "--no-progress"]) == 0
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["model"]["spec"] == "tiny_vit_gem" and manifest["model"]["load_options"] == {"random_init": True}


def test_recorded_weights_path_is_absolute(tmp_path, monkeypatch):
    from geovpr.index.core import _load_options

    monkeypatch.chdir(tmp_path)
    assert _load_options({"backbone_weights": "w.pth", "random_init": False}) == {
        "backbone_weights": str(tmp_path / "w.pth")}
    assert _load_options({"backbone_weights": "hub", "random_init": False}) == {"backbone_weights": "hub"}
    assert _load_options(None) == {}
