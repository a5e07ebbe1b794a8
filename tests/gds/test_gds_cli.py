"""``geovpr gds`` end to end: descriptor files (known answers) and a model on a generated city."""
import json

import numpy as np
import pytest

from geovpr.cli import main
from geovpr.data.readers import load_eval_set
from geovpr.data.synthetic import generate_city


def test_descriptor_file_with_coordinates(tmp_path, capsys, check_environment):
    rng = np.random.default_rng(0)
    db = rng.uniform(0, 300, (200, 2))
    q = rng.uniform(50, 250, (20, 2))
    np.savez(tmp_path / "d.npz", database=db, queries=q, database_utm=db, queries_utm=q)
    assert main(["gds", "--descriptors", str(tmp_path / "d.npz"), "--out", str(tmp_path / "out")]) == 0
    rep = json.loads((tmp_path / "out" / "gds.json").read_text())
    assert rep["summary"]["misordering"] == 0.0
    assert rep["summary"]["slope_0_25m"] == pytest.approx(1.0)
    check_environment(rep["environment"])
    assert rep["environment"]["device"] is None  # descriptors from a file: no device computed them
    assert (tmp_path / "out" / "gds.png").stat().st_size > 10_000
    assert "| d |" in capsys.readouterr().out


def test_descriptor_file_without_coordinates_needs_data(tmp_path):
    np.savez(tmp_path / "d.npz", database=np.zeros((3, 2)), queries=np.zeros((1, 2)))
    assert main(["gds", "--descriptors", str(tmp_path / "d.npz"), "--out", str(tmp_path / "o")]) == 2


def test_model_on_synthetic_city_and_saved_descriptors_agree(tmp_path, check_environment):
    city = generate_city(tmp_path / "city", size="quick", image_size=32, workers=1, progress=False)
    out = tmp_path / "pix"
    assert main(["gds", "--data", str(city.eval_root), "--model", "pixels", "--out", str(out),
                 "--save-descriptors", "--no-progress"]) == 0
    saved = np.load(out / "descriptors.npz")
    check_environment(json.loads((out / "gds.json").read_text())["environment"])
    es = load_eval_set(city.eval_root)
    np.testing.assert_array_equal(saved["database_utm"], es.db_utm)
    assert saved["queries"].shape[0] == es.num_queries
    # The same descriptors given as a file (coordinates taken from --data) give the same report.
    np.savez(tmp_path / "plain.npz", database=saved["database"], queries=saved["queries"])
    assert main(["gds", "--data", str(city.eval_root), "--descriptors", str(tmp_path / "plain.npz"),
                 "--out", str(tmp_path / "again")]) == 0
    a = json.loads((out / "gds.json").read_text())
    b = json.loads((tmp_path / "again" / "gds.json").read_text())
    assert a["summary"] == b["summary"]
    # Wrong row count: a clear error (exit code 2), not a silent mismatch.
    np.savez(tmp_path / "short.npz", database=saved["database"][:-1], queries=saved["queries"])
    assert main(["gds", "--data", str(city.eval_root), "--descriptors", str(tmp_path / "short.npz"),
                 "--out", str(tmp_path / "bad")]) == 2
