"""`geovpr index` and `geovpr query` end to end (in-process CLI), on synthetic and real data."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from geovpr.cli import main
from geovpr.models.pixels import PixelsModel


def at_name(east: float, north: float) -> str:
    return f"@{east:010.2f}@{north:010.2f}@17@T@@@@@@@@@@.jpg"


def test_build_query_json_and_report(tmp_path, make_images):
    db = make_images(tmp_path / "db", [at_name(500000 + 7 * i, 4000000) for i in range(8)])
    assert main(["index", "build", "--model", "pixels", "--images", str(tmp_path / "db"),
                 "--out", str(tmp_path / "idx"), "--no-progress"]) == 0
    out = tmp_path / "res" / "out.json"
    assert main(["query", "--index", str(tmp_path / "idx"), "--out", str(out), "-k", "3",
                 str(db[1]), str(db[6])]) == 0
    res = json.loads(out.read_text())
    assert [r["query"] for r in res] == [str(db[1]), str(db[6])]
    for r, i in zip(res, (1, 6)):
        assert len(r["matches"]) == 3
        assert r["matches"][0] == {"image": str(db[i]), "distance": 0.0, "coords": [500000.0 + 7 * i, 4000000.0]}
        assert r["estimate"]["coords"] == [500000.0 + 7 * i, 4000000.0]  # duplicate query -> exact position
        assert 0.0 <= r["confidence"] <= 1.0
    html = (tmp_path / "res" / "out.html").read_text(encoding="utf-8")
    assert html.count("data:image/jpeg;base64,") == 2 * (1 + 3)  # each query row: query + 3 matches
    assert f"{db[1]} — estimate: 500007.0, 4000000.0" in html
    with Image.open(tmp_path / "res" / "out.png") as png:
        assert png.format == "PNG" and png.width > png.height / 2  # 2 rows x 4 columns


def test_add_and_info(tmp_path, make_images, capsys, check_environment):
    make_images(tmp_path / "a", [at_name(1, 1), at_name(2, 2)])
    make_images(tmp_path / "b", [at_name(3, 3)], seed0=9)
    assert main(["index", "build", "--model", "pixels", "--images", str(tmp_path / "a"),
                 "--out", str(tmp_path / "idx"), "--no-progress"]) == 0
    assert main(["index", "add", "--index", str(tmp_path / "idx"), "--images", str(tmp_path / "b"),
                 "--no-progress"]) == 0  # the model is the one recorded in the index
    capsys.readouterr()
    assert main(["index", "info", "--index", str(tmp_path / "idx")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert main(["index", "info", str(tmp_path / "idx")]) == 0  # the old positional form, deprecated
    assert json.loads(capsys.readouterr().out) == info
    assert main(["index", "info"]) == 2
    assert info["images"] == 3 and info["segments"] == 2 and info["with_coords"] == 3
    assert info["model"]["spec"] == "pixels"
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    check_environment(manifest["environment"])  # how the index was built
    check_environment(manifest["segments"][1]["environment"])  # how the added segment was encoded
    assert manifest["environment"]["argv"][:3] == ["geovpr", "index", "build"]
    assert manifest["segments"][1]["environment"]["argv"][:3] == ["geovpr", "index", "add"]


def test_toy_dataset_without_labels(tmp_path, shared_data):
    toy = shared_data / "vpr_methods_eval_toy"
    if not toy.is_dir():
        pytest.skip(f"{toy} not found")
    assert main(["index", "build", "--model", "pixels", "--images", str(toy / "database"),
                 "--out", str(tmp_path / "idx"), "--no-progress"]) == 0
    out = tmp_path / "toy.json"
    assert main(["query", "--index", str(tmp_path / "idx"), "--out", str(out), "-k", "4", str(toy / "queries")]) == 0
    res = json.loads(out.read_text())
    assert [r["query"].rsplit("/", 1)[1] for r in res] == ["q1.jpg", "q2.jpg", "q3.jpg", "q4.jpg", "q5.jpg"]
    model = PixelsModel()
    db_paths = sorted((toy / "database").glob("*.jpg"))
    db_desc = model.describe(db_paths)
    for r in res:
        assert r["estimate"] is None and r["confidence_basis"] == "second_match"
        d = np.linalg.norm(db_desc - model.describe([r["query"]]), axis=1)
        top = np.argsort(d, kind="stable")[:4]
        assert [m["image"] for m in r["matches"]] == [str(db_paths[i]) for i in top]
        np.testing.assert_allclose([m["distance"] for m in r["matches"]], d[top], rtol=1e-5)
        assert all(m["coords"] is None for m in r["matches"])


def test_corridor_recall_matches_brute_force(tmp_path, shared_data):
    root = shared_data / "vprbench_corridor"
    if not (root / "ground_truth_new.npy").is_file():
        pytest.skip(f"{root} not found")
    assert main(["index", "build", "--model", "pixels", "--images", str(root / "ref"),
                 "--out", str(tmp_path / "idx"), "--no-progress"]) == 0
    out = tmp_path / "c.json"
    assert main(["query", "--index", str(tmp_path / "idx"), "--out", str(out), "-k", "5", "--no-report",
                 str(root / "query")]) == 0
    res = json.loads(out.read_text())
    gt = np.load(root / "ground_truth_new.npy", allow_pickle=True)
    positives = {int(row[0]): {int(x) for x in np.atleast_1d(row[1])} for row in gt}
    top1 = [int(r["matches"][0]["image"].rsplit("/", 1)[1][:-4]) for r in res]
    qids = [int(r["query"].rsplit("/", 1)[1][:-4]) for r in res]
    recall1 = np.mean([t in positives[q] for q, t in zip(qids, top1)])
    # the same number straight from descriptors, and the known Pixels R@1 on Corridor (30 of 111)
    model = PixelsModel()
    ref = sorted((root / "ref").glob("*.jpg"))
    qs = sorted((root / "query").glob("*.jpg"))
    d = np.linalg.norm(model.describe(qs)[:, None] - model.describe(ref)[None], axis=2)
    brute = np.mean([int(ref[j].stem) in positives[int(q.stem)] for q, j in zip(qs, d.argmin(axis=1))])
    assert len(res) == 111 and recall1 == pytest.approx(brute) == pytest.approx(30 / 111)


def test_index_records_the_input_size_and_query_reuses_it(tmp_path, make_images, capsys):
    from geovpr.models.checkpoint import save_model
    from geovpr.models.factory import load_model

    make_images(tmp_path / "db", [at_name(1, 1), at_name(2, 2), at_name(40, 40)])
    ckpt = save_model(load_model("tiny_vit_gem"), tmp_path / "tiny")  # fixed weights the index can load again
    assert main(["index", "build", "--model", str(ckpt), "--images", str(tmp_path / "db"),
                 "--out", str(tmp_path / "idx"), "--image-size", "56", "--no-progress"]) == 0
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["model"]["load_options"]["image_size"] == [56, 56]  # tiny_vit_gem is 112 x 112: shorter side 56
    assert manifest["model"]["preprocess"]["size"] == [56, 56]
    q = str(tmp_path / "db" / at_name(2, 2))
    assert main(["query", "--index", str(tmp_path / "idx"), "--out", str(tmp_path / "a.json"), "--no-report",
                 "--no-progress", "-k", "1", q]) == 0  # the index's own model, loaded at its recorded size
    assert json.loads((tmp_path / "a.json").read_text())[0]["matches"][0]["image"] == q
    assert main(["query", "--image-size", "64", "--index", str(tmp_path / "idx"), "--out", str(tmp_path / "b.json"),
                 "--no-report", q]) == 2  # encoder options go with --model
    assert main(["index", "build", "--model", "pixels", "--images", str(tmp_path / "db"),
                 "--out", str(tmp_path / "idx2"), "--image-size", "56"]) == 2  # pixels has a fixed input
