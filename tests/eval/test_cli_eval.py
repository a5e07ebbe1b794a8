"""`geovpr eval` end to end on real data (CPU)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from geovpr.cli import main


@pytest.fixture(scope="module")
def corridor(shared_data: Path) -> Path:
    root = shared_data / "vprbench_corridor"
    if not (root / "ground_truth_new.npy").is_file():
        pytest.skip(f"{root} not present")
    return root


def test_eval_pixels_writes_json(corridor: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "res" / "corridor.json"
    code = main(["eval", "--data", str(corridor), "--model", "pixels", "--out", str(out), "--protocol", "corridor",
                 "--no-progress", "--knn-backend", "faiss"])
    assert code == 0
    result = json.loads(out.read_text())
    assert [round(result["recall"][k], 3) for k in ("1", "5", "10")] == [0.270, 0.532, 0.811]
    for key in ("num_queries", "queries_without_positives", "num_database", "skipped_images", "model",
                "image_size", "knn_backend", "protocol", "dataset"):
        assert key in result
    assert result["model"] == {"name": "pixels"} and result["image_size"] == [24, 32]
    assert (result["num_queries"], result["knn_backend"], result["protocol"]) == (111, "faiss", "corridor")
    table = capsys.readouterr().out
    assert "R@1" in table and "27.03" in table


def test_eval_tiny_vit_with_pca(corridor: Path, tmp_path: Path) -> None:
    pytest.importorskip("geovpr.models.factory")
    out = tmp_path / "tiny.json"
    args = ["eval", "--data", str(corridor), "--model", "tiny_vit_gem", "--out", str(out), "--image-size", "56", "56",
            "--recall-values", "1", "5", "--pca-dim", "8", "--pca-data", str(corridor / "ref"),
            "--pca-cache", str(tmp_path / "cache"), "--no-progress", "--batch-size", "64"]
    assert main(args) == 0
    result = json.loads(out.read_text())
    assert result["image_size"] == [56, 56] and result["pca_dim"] == 8 and result["descriptor_dim"] == 8
    assert set(result["recall"]) == {"1", "5"} and 0.0 <= result["recall"]["1"] <= result["recall"]["5"] <= 1.0
    assert len(list((tmp_path / "cache").glob("pca_*_8.safetensors"))) == 1


def test_eval_bad_data_exits_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "database").mkdir()
    (tmp_path / "queries").mkdir()
    assert main(["eval", "--data", str(tmp_path), "--model", "pixels"]) == 2


def _folder_set(root: Path) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, coords in (("database", [(0, 0), (100, 0), (200, 0)]), ("queries", [(1, 0), (199, 0)])):
        (root / split).mkdir(parents=True)
        for e, n in coords:
            img = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
            Image.fromarray(img).save(root / split / f"@{e:09.2f}@{n:010.2f}@17@T@@@@@@@@@@@.png")
    return root


def test_on_bad_image_error_and_skip(tmp_path: Path, capsys, check_environment) -> None:
    root = _folder_set(tmp_path / "set")
    broken = sorted((root / "database").iterdir())[1]
    broken.write_bytes(broken.read_bytes()[:40])  # truncated PNG
    assert main(["eval", "--data", str(root), "--model", "pixels", "--no-progress"]) == 2
    assert broken.name in capsys.readouterr().err
    out = tmp_path / "skip.json"
    assert main(["eval", "--data", str(root), "--model", "pixels", "--no-progress", "--on-bad-image", "skip",
                 "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["skipped_images"] == 1 and result["skipped_paths"] == [str(broken)]
    assert (result["num_database"], result["num_queries"], result["queries_without_positives"]) == (2, 2, 0)
    check_environment(result["environment"])
    assert result["environment"]["device"] == "cpu" and result["environment"]["argv"][-2:] == ["--out", str(out)]
