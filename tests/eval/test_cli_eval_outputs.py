"""``geovpr eval`` outputs end to end (issue 12 item 1): run folder, saved descriptors read by gds,
top-K in the JSON, hloc pairs, pictures, two plain folders with and without labels."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geovpr.cli import main


def _make_set(root: Path, named: bool = True) -> Path:
    """Six places 100 m apart; each query is its place's database image plus noise, 5 m away."""
    rng = np.random.default_rng(0)
    for i in range(6):
        base = rng.integers(0, 256, (24, 32, 3))
        noisy = np.clip(base + rng.normal(0, 25, base.shape), 0, 255)
        for split, img, x in (("database", base, 100 * i), ("queries", noisy, 100 * i + 5)):
            name = f"@{x:04d}@500@32@T@0@0@{i}@.png" if named else f"img{i}.png"
            (root / split).mkdir(parents=True, exist_ok=True)
            Image.fromarray(img.astype(np.uint8)).save(root / split / name)
    return root


def _run(*argv: str) -> int:
    return main(["eval", "--model", "pixels", "--no-progress", *argv])


def test_default_run_folder_and_out_file(tmp_path, monkeypatch, check_environment):
    import geovpr.eval.run_folder as run_folder

    monkeypatch.setattr(run_folder, "DEFAULT_ROOT", Path("runs") / "eval")  # the real default, under tmp_path
    data = _make_set(tmp_path / "city")
    monkeypatch.chdir(tmp_path)
    assert _run("--data", str(data), "--recall-values", "1", "3") == 0
    (run,) = (tmp_path / "runs" / "eval").iterdir()
    assert run.name.startswith("city-pixels-") and run.name.endswith("Z")
    result = json.loads((run / "result.json").read_text())
    assert result["run_dir"] == str(Path("runs/eval") / run.name)
    assert (run / "command.txt").read_text().startswith("geovpr eval --model pixels")
    assert "run folder" in (run / "log.txt").read_text()
    check_environment(json.loads((run / "environment.json").read_text()))
    # --out keeps its meaning: that file only, no run folder
    assert _run("--data", str(data), "--recall-values", "1", "3", "--out", "r.json") == 0
    assert len(list((tmp_path / "runs" / "eval").iterdir())) == 1
    assert json.loads((tmp_path / "r.json").read_text())["recall"] == result["recall"]


def test_saved_outputs_agree_with_recall(tmp_path, capsys):
    data = _make_set(tmp_path / "city")
    run = tmp_path / "run"
    assert _run("--data", str(data), "--recall-values", "1", "3", "--run-dir", str(run), "--save-topk", "3",
                "--save-descriptors", "--save-preds", "2", "--pairs-out", str(tmp_path / "pairs.txt"),
                "--pairs-k", "2") == 0
    result = json.loads((run / "result.json").read_text())
    topk = result["topk"]
    assert len(topk) == 6 and all(len(r["predictions"]) == 3 for r in topk)
    hit1 = np.mean([r["predictions"][0]["correct"] for r in topk])
    hit3 = np.mean([any(p["correct"] for p in r["predictions"]) for r in topk])
    assert (hit1, hit3) == (pytest.approx(result["recall"]["1"]), pytest.approx(result["recall"]["3"]))
    for r in topk:  # geographic distances from the @-names: 100 m grid, queries 5 m east of their place
        qi = r["query_index"]
        for p in r["predictions"]:
            assert p["distance_m"] == pytest.approx(abs(100 * p["database_index"] - (100 * qi + 5)))
            assert p["correct"] == (p["database_index"] == qi)
    # hloc pairs: two per query, the same ranking, names relative to the dataset folder
    lines = (tmp_path / "pairs.txt").read_text().splitlines()
    assert len(lines) == 12 and result["pairs"]["root"] == str(data.resolve())
    for r in topk:
        q = Path(r["query"]).relative_to(data).as_posix()
        expected = [f"{q} {Path(p['path']).relative_to(data).as_posix()}" for p in r["predictions"][:2]]
        assert [line for line in lines if line.startswith(q + " ")] == expected
    # pictures: one per query + index page
    assert sorted(p.name for p in (run / "preds").glob("*.jpg")) == [f"{i:06d}.jpg" for i in range(6)]
    assert (run / "preds" / "index.html").is_file()
    # descriptors.npz is what geovpr gds --descriptors reads
    saved = np.load(run / "descriptors.npz")
    assert saved["database"].shape == (6, 768) and saved["queries"].shape == (6, 768)
    np.testing.assert_array_equal(saved["database_utm"][:, 0], 100 * np.arange(6))
    assert main(["gds", "--descriptors", str(run / "descriptors.npz"), "--out", str(tmp_path / "gds")]) == 0
    assert json.loads((tmp_path / "gds" / "gds.json").read_text())["summary"]


def test_failed_run_keeps_its_reason(tmp_path):
    data = _make_set(tmp_path / "city")
    run = tmp_path / "run"
    assert main(["eval", "--data", str(data), "--model", str(tmp_path / "missing.ckpt"), "--run-dir", str(run)]) == 2
    assert "ERROR geovpr: run failed: " in (run / "log.txt").read_text()


def test_plain_folders_with_and_without_labels(tmp_path, capsys):
    data = _make_set(tmp_path / "city")
    assert _run("--data", str(data), "--out", str(tmp_path / "a.json")) == 0
    assert _run("--database", str(data / "database"), "--queries", str(data / "queries"),
                "--out", str(tmp_path / "b.json")) == 0
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert b["labels"] is True and b["recall"] == a["recall"]
    capsys.readouterr()
    assert _run("--database", str(data / "database"), "--queries", str(data / "queries"), "--no-labels",
                "--out", str(tmp_path / "c.json"), "--save-topk", "1") == 0
    c = json.loads((tmp_path / "c.json").read_text())
    assert c["labels"] is False and c["recall"] is None
    assert "no labels: predictions only" in capsys.readouterr().out
    assert a["recall"]["1"] == 1.0  # so without labels the first prediction is still each query's own place
    assert [r["predictions"][0]["database_index"] for r in c["topk"]] == list(range(6))
    assert all(r["predictions"][0]["correct"] is None for r in c["topk"])
    assert _run("--database", str(data / "database"), "--queries", str(data / "queries"), "--no-labels",
                "--save-preds", "2", "--only-wrong", "--out", str(tmp_path / "e.json")) == 2
    plain = _make_set(tmp_path / "plain", named=False)
    assert _run("--database", str(plain / "database"), "--queries", str(plain / "queries"),
                "--out", str(tmp_path / "d.json")) == 0
    assert json.loads((tmp_path / "d.json").read_text())["recall"] is None


@pytest.mark.parametrize("argv", [
    ["--data", "X", "--only-wrong"],
    ["--database", "X"],
    [],
    ["--data", "X", "--database", "Y", "--queries", "Z"],
    ["--data", "X", "--no-labels"],
    ["--data", "X", "--pairs-out", "p.txt", "--pairs-k", "0"],
    ["--data", "X", "--save-preds", "-1"],
])
def test_bad_option_combinations_exit_2(argv, tmp_path, monkeypatch):
    import geovpr.eval.run_folder as run_folder

    monkeypatch.setattr(run_folder, "DEFAULT_ROOT", Path("runs") / "eval")
    monkeypatch.chdir(tmp_path)
    assert _run(*argv) == 2
    assert not (tmp_path / "runs").exists()


def test_one_image_size_value_is_the_shorter_side(tmp_path):
    data = _make_set(tmp_path / "city")
    assert _run("--data", str(data), "--image-size", "48", "--out", str(tmp_path / "r.json")) == 0
    assert json.loads((tmp_path / "r.json").read_text())["image_size"] == [48, 64]  # pixels is 24 x 32
