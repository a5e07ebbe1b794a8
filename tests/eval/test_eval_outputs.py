"""Evaluation outputs (issue 12 item 1): top-K records, hloc pairs, saved predictions, run folders,
two plain folders with or without labels. Known answers from hand-built sets."""
import datetime
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geovpr.data.eval_set import EvalSet
from geovpr.data.readers.plain_folders import read_plain_folders
from geovpr.errors import DataError
from geovpr.eval.pairs import pairs_root, write_pairs
from geovpr.eval.run_folder import default_run_dir, model_label, run_log, write_run_files
from geovpr.eval.saved_preds import is_wrong, save_predictions
from geovpr.eval.topk import topk_records
from geovpr.eval.visualize import grid_size


def _img(path: Path, value: int) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (20, 16), (value, 255 - value, 0)).save(path)
    return str(path)


@pytest.fixture
def small_set(tmp_path):
    """Database at x = 0, 30, 100 m; queries at x = 10 (positive: db 0) and x = 95 (positive: db 2)."""
    db = [_img(tmp_path / "set" / "database" / f"d{i}.jpg", 40 * i) for i in range(3)]
    qs = [_img(tmp_path / "set" / "queries" / f"q{i}.jpg", 100 + 40 * i) for i in range(2)]
    db_xy = np.array([[0.0, 0.0], [30.0, 0.0], [100.0, 0.0]])
    q_xy = np.array([[10.0, 0.0], [95.0, 0.0]])
    return EvalSet(name="small", db_paths=db, query_paths=qs, positives=[np.array([0]), np.array([2])],
                   db_utm=db_xy, query_utm=q_xy)


def test_topk_records_map_kept_rows_back_and_flag_hits(small_set):
    # database row 1 was skipped: kNN indices refer to kept rows [0, 2]; query 1 was skipped.
    db_kept = np.array([True, False, True])
    q_kept = np.array([True, False])
    sq = np.array([[0.25, 4.0]], dtype=np.float32)
    idx = np.array([[1, 0]])  # kept row 1 = database index 2, kept row 0 = database index 0
    recs = topk_records(small_set, db_kept, q_kept, sq, idx)
    first, second = recs
    assert [p["database_index"] for p in first["predictions"]] == [2, 0]
    assert [p["correct"] for p in first["predictions"]] == [False, True]
    assert first["first_correct_rank"] == 2
    assert [p["descriptor_distance"] for p in first["predictions"]] == [0.5, 2.0]
    assert [p["distance_m"] for p in first["predictions"]] == [90.0, 10.0]
    assert first["predictions"][0]["path"] == small_set.db_paths[2]
    assert second == {"query_index": 1, "query": small_set.query_paths[1], "skipped": True,
                      "first_correct_rank": None, "predictions": []}
    assert is_wrong(first) and is_wrong(second)


def test_topk_records_without_labels_or_coordinates(small_set):
    small_set.db_utm = small_set.query_utm = None
    recs = topk_records(small_set, np.ones(3, bool), np.ones(2, bool), np.zeros((2, 1), np.float32),
                        np.array([[0], [2]]), labelled=False)
    assert [r["predictions"][0]["correct"] for r in recs] == [None, None]
    assert [r["predictions"][0]["distance_m"] for r in recs] == [None, None]
    assert not is_wrong(recs[0])  # unknown is not "wrong"


def test_hloc_pairs_relative_to_the_common_root(small_set, tmp_path):
    recs = topk_records(small_set, np.ones(3, bool), np.ones(2, bool), np.zeros((2, 2), np.float32),
                        np.array([[0, 1], [2, 1]]))
    root = pairs_root(small_set.db_paths + small_set.query_paths)
    assert root == (tmp_path / "set").resolve() or root == tmp_path / "set"
    n = write_pairs(recs, tmp_path / "pairs.txt", 1, root)
    assert n == 2
    assert (tmp_path / "pairs.txt").read_text() == "queries/q0.jpg database/d0.jpg\nqueries/q1.jpg database/d2.jpg\n"
    write_pairs(recs, tmp_path / "pairs2.txt", 5, root)  # K larger than the predictions kept: all of them
    assert len((tmp_path / "pairs2.txt").read_text().splitlines()) == 4
    recs[0]["query"] = str(tmp_path / "set" / "queries" / "a b.jpg")
    with pytest.raises(DataError, match="white space"):
        write_pairs(recs, tmp_path / "bad.txt", 1, root)


def test_saved_predictions_pictures_texts_and_index(small_set, tmp_path):
    recs = topk_records(small_set, np.ones(3, bool), np.ones(2, bool), np.zeros((2, 2), np.float32),
                        np.array([[1, 0], [2, 1]]))  # query 0 wrong at rank 1, query 1 right
    out = tmp_path / "preds"
    pics = save_predictions(recs, small_set, out, 2, only_wrong=True)
    assert [p.name for p in pics] == ["000000.jpg"]
    with Image.open(pics[0]) as im:
        assert im.size == grid_size(1, 2)
    text = (out / "000000.txt").read_text().splitlines()
    assert text == [f"query: {small_set.query_paths[0]}", f"prediction 1: {small_set.db_paths[1]} (wrong)",
                    f"prediction 2: {small_set.db_paths[0]} (correct)", f"positive: {small_set.db_paths[0]}"]
    page = (out / "index.html").read_text()
    assert "000000.jpg" in page and "000001.jpg" not in page and "first correct: #2" in page
    all_pics = save_predictions(recs, small_set, tmp_path / "all", 1)
    assert [p.name for p in all_pics] == ["000000.jpg", "000001.jpg"]
    with Image.open(all_pics[1]) as im:
        assert im.size == grid_size(1, 1)


def test_run_folder_name_and_files(tmp_path, caplog):
    now = datetime.datetime(2026, 12, 1, 23, 5, 7, tzinfo=datetime.timezone.utc)
    first = default_run_dir("pitts30k", "runs/sage/model", root=tmp_path, now=now)
    assert first == tmp_path / "pitts30k-sage-20261201-230507Z"
    first.mkdir()
    assert default_run_dir("pitts30k", "runs/sage/model", root=tmp_path, now=now).name.endswith("230507Z-2")
    assert model_label("pixels") == "pixels"
    assert model_label("ckpts/cliquemining.ckpt") == "cliquemining"
    assert model_label("a b/w.safetensors") == "w"
    write_run_files(first, ["geovpr", "eval", "--data", "my set"], {"x": 1})
    assert (first / "command.txt").read_text() == "geovpr eval --data 'my set'\n"
    assert (first / "environment.json").read_text() == '{\n  "x": 1\n}\n'
    logger = logging.getLogger("geovpr.test_outputs")
    logger.setLevel(logging.INFO)
    with run_log(first / "log.txt"):
        logger.info("inside %d", 1)
    logger.info("outside")
    text = (first / "log.txt").read_text()
    assert "INFO geovpr.test_outputs: inside 1" in text and "outside" not in text


def test_plain_folders_labels_from_names(tmp_path):
    for x in (0, 40, 200):
        _img(tmp_path / "db" / f"@{x}@0@32@T@0@0@.jpg", x)
    _img(tmp_path / "q" / "@30@0@32@T@0@0@.jpg", 1)
    es, labelled = read_plain_folders(tmp_path / "db", tmp_path / "q", radius=25.0)
    assert labelled and es.name == tmp_path.name
    assert [Path(es.db_paths[i]).name for i in es.positives[0]] == ["@40@0@32@T@0@0@.jpg"]  # 10 m; 0 is 30 m away
    es, labelled = read_plain_folders(tmp_path / "db", tmp_path / "q", radius=30.0)
    assert len(es.positives[0]) == 2  # inclusive radius
    es, labelled = read_plain_folders(tmp_path / "db", tmp_path / "q", labels=False)
    assert not labelled and es.db_utm is None and all(len(p) == 0 for p in es.positives)


def test_plain_folders_without_or_with_partial_coordinates(tmp_path, caplog):
    _img(tmp_path / "db" / "a.jpg", 1)
    _img(tmp_path / "db" / "@5@0@32@T@0@0@.jpg", 2)
    _img(tmp_path / "q" / "@0@0@32@T@0@0@.jpg", 3)
    with caplog.at_level(logging.WARNING, logger="geovpr"):
        es, labelled = read_plain_folders(tmp_path / "db", tmp_path / "q")
    assert not labelled and es.positive_rule.startswith("none")
    assert "1 of 3 image names carry no @-coordinates" in caplog.text
    with pytest.raises(DataError, match="holds no images"):
        read_plain_folders(tmp_path / "db", tmp_path / "empty_parent" if (tmp_path / "empty_parent").mkdir() is None
                           else tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        read_plain_folders(tmp_path / "nope", tmp_path / "q")
