"""The .npy image-list format (gsv-cities/SALAD) and the VPR-Bench layout."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from geovpr.data.readers import detect_format, load_eval_set
from geovpr.data.protocols import PROTOCOLS, get_protocol
from geovpr.data.readers.npy_lists import load_npy
from geovpr.data.readers.vprbench import parse_ground_truth
from geovpr.errors import ConfigError, DataError


def _obj(rows: list) -> np.ndarray:
    out = np.empty(len(rows), dtype=object)
    for i, r in enumerate(rows):
        out[i] = r
    return out


@pytest.fixture
def npy_set(tmp_path: Path, write_png):
    """A Nordland-shaped set: 3 queries, 30 refs, query i <-> refs 10i-1..10i+1; images under images/."""
    lists = tmp_path / "lists"
    lists.mkdir()
    db = np.array([f"ref/{i:07d}.png" for i in range(30)])
    q = np.array([f"query/{i:07d}.png" for i in range(3)])
    gt = _obj([np.array([j for j in (10 * i - 1, 10 * i, 10 * i + 1) if 0 <= j < 30]) for i in range(3)])
    np.save(lists / "Mini_dbImages.npy", db)
    np.save(lists / "Mini_qImages.npy", q)
    np.save(lists / "Mini_gt.npy", gt, allow_pickle=True)
    for k, rel in enumerate(list(db) + list(q)):
        write_png(tmp_path / "images" / rel, seed=k, size=(4, 4))
    return tmp_path


def test_npy_lists(npy_set: Path) -> None:
    es = load_eval_set(npy_set / "lists", image_root=npy_set / "images")
    assert es.format == "npy" and es.name == "Mini"
    assert (es.num_queries, es.num_database) == (3, 30)
    assert [p.tolist() for p in es.positives] == [[0, 1], [9, 10, 11], [19, 20, 21]]
    assert es.db_paths[5] == os.fspath(npy_set / "images" / "ref" / "0000005.png")
    # a file path selects the same set; detect_format sees the lists
    assert detect_format(npy_set / "lists") == "npy"
    assert load_eval_set(npy_set / "lists" / "Mini_gt.npy", image_root=npy_set / "images").num_database == 30


def test_npy_wrong_image_root_is_explained(npy_set: Path) -> None:
    with pytest.raises(DataError, match="first image .* does not exist; is the image root"):
        load_eval_set(npy_set / "lists")


def test_npy_identity_int_gt_and_count_mismatch(npy_set: Path) -> None:
    lists = npy_set / "lists"
    np.save(lists / "Mini_gt.npy", np.arange(3).reshape(3, 1))  # SPED/ESSEX style int64 (N, 1)
    es = load_eval_set(lists, image_root=npy_set / "images")
    assert [p.tolist() for p in es.positives] == [[0], [1], [2]]
    with pytest.raises(DataError, match=r"Mini_qImages\.npy: protocol nordland_2760 expects 2760 queries, found 3"):
        load_eval_set(lists, image_root=npy_set / "images", protocol="nordland_2760")


def test_npy_gt_out_of_range_and_wrong_length(npy_set: Path) -> None:
    lists = npy_set / "lists"
    np.save(lists / "Mini_gt.npy", _obj([np.array([0]), np.array([30]), np.array([1])]), allow_pickle=True)
    with pytest.raises(DataError, match=r"Mini_gt\.npy: row 1 has an index outside \[0, 30\)"):
        load_eval_set(lists, image_root=npy_set / "images")
    np.save(lists / "Mini_gt.npy", _obj([np.array([0])]), allow_pickle=True)
    with pytest.raises(DataError, match=r"Mini_gt\.npy: 1 ground-truth rows for 3 queries"):
        load_eval_set(lists, image_root=npy_set / "images")
    np.save(lists / "Mini_gt.npy", _obj([[0], [1.5], [2]]), allow_pickle=True)
    with pytest.raises(DataError, match=r"Mini_gt\.npy: row 1 is not a list of integer database indices"):
        load_eval_set(lists, image_root=npy_set / "images")
    np.save(lists / "Mini_gt.npy", _obj([[0], [np.int64(4), 5], []]), allow_pickle=True)  # lists of ints, an empty row
    es = load_eval_set(lists, image_root=npy_set / "images")
    assert [p.tolist() for p in es.positives] == [[0], [4, 5], []]


def test_msls_style_qidx_pidx(npy_set: Path) -> None:
    lists = npy_set / "lists"
    (lists / "Mini_gt.npy").unlink()
    np.save(lists / "Mini_qIdx.npy", np.array([0, 2]))
    np.save(lists / "Mini_pIdx.npy", _obj([np.array([3, 4]), np.array([7])]), allow_pickle=True)
    es = load_eval_set(lists, image_root=npy_set / "images")
    assert es.query_paths[1].endswith("query/0000002.png")
    assert [p.tolist() for p in es.positives] == [[3, 4], [7]]


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_npy_loader_refuses_non_numpy_pickles(tmp_path: Path) -> None:
    arr = _obj([_Evil()])
    path = tmp_path / "evil_gt.npy"
    with path.open("wb") as fh:
        np.lib.format.write_array(fh, arr, allow_pickle=True)
    with pytest.raises(DataError, match=r"evil_gt\.npy.*refusing to load .*system"):
        load_npy(path)


@pytest.fixture
def vprbench_set(tmp_path: Path, write_png):
    root = tmp_path / "bench"
    for i in range(5):
        write_png(root / "ref" / f"{i:07d}.jpg", seed=i, size=(4, 4))
    for i in range(4):
        write_png(root / "query" / f"{i:07d}.png", seed=20 + i, size=(4, 4))
    gt = np.empty((3, 2), dtype=object)
    for r, (q, refs) in enumerate([(0, [0, 1]), (2, [2, 3, 4]), (1, [1])]):
        gt[r, 0], gt[r, 1] = q, refs
    np.save(root / "ground_truth_new.npy", gt, allow_pickle=True)
    return root


def test_vprbench_layout(vprbench_set: Path) -> None:
    assert detect_format(vprbench_set) == "vprbench"
    es = load_eval_set(vprbench_set)
    assert (es.num_queries, es.num_database) == (4, 5)
    assert [p.tolist() for p in es.positives] == [[0, 1], [1], [2, 3, 4], []]  # query 3 has no row
    assert es.queries_without_positives == 1


@pytest.mark.parametrize(
    "gt, message",
    [
        (np.zeros((3, 2), dtype=np.int64), "object array of shape"),
        (_obj([1, 2, 3]), "object array of shape"),
        (np.array([[0, [0]], [0, [1]]], dtype=object), "row 1: query 0 appears twice"),
        (np.array([[7, [0]]], dtype=object), r"row 0: query index 7 is not an integer in \[0, 4\)"),
        (np.array([["0", [0]]], dtype=object), "row 0: query index '0'"),
        (np.array([[0, "12"]], dtype=object), "row 0: expected a list of integer reference indices"),
        (np.array([[0, [0.5]]], dtype=object), "row 0: expected a list of integer reference indices"),
        (np.array([[0, [5]]], dtype=object), r"row 0: a reference index is outside \[0, 5\)"),
    ],
)
def test_vprbench_bad_ground_truth(vprbench_set: Path, gt: np.ndarray, message: str) -> None:
    np.save(vprbench_set / "ground_truth_new.npy", gt, allow_pickle=True)
    with pytest.raises(DataError, match=message):
        load_eval_set(vprbench_set)


def test_vprbench_numbering_gap(vprbench_set: Path) -> None:
    (vprbench_set / "ref" / "0000002.jpg").rename(vprbench_set / "ref" / "0000009.jpg")
    with pytest.raises(DataError, match="numbered images must be 0 .. 4"):
        load_eval_set(vprbench_set)


# Query counts from VPR-Bench (vprbench_gt_only/SOURCE.md) and reference counts where known.
GT_ONLY = {
    "GardensPointWalking": (200, None), "ESSEX3IN1_dataset": (210, 210), "SPEDTEST": (607, 607),
    "CrossSeason_CoHOG_Dataset": (191, 191), "17places": (406, None), "Living": (32, None),
    "Nordland": (2760, 27592), "Pittsburgh": (1000, None), "Tokyo247": (315, None), "inria_holidays": (300, None),
}


@pytest.mark.parametrize("name", sorted(GT_ONLY))
def test_real_vprbench_ground_truth(shared_data: Path, name: str) -> None:
    path = shared_data / "vprbench_gt_only" / name / "ground_truth_new.npy"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    n_queries, n_refs = GT_ONLY[name]
    gt = load_npy(path)
    refs_needed = n_refs or 1 + max(max(r) for r in gt[:, 1])
    positives = parse_ground_truth(gt, n_queries, refs_needed, str(path))
    assert len(positives) == n_queries and all(p.size > 0 for p in positives)
    if name == "Nordland":  # query i <-> refs within +-1 of 10 i (docs/reference-notes.md §5.1)
        for i in (0, 1, 1000, 2759):
            assert positives[i].tolist() == [j for j in (10 * i - 1, 10 * i, 10 * i + 1) if 0 <= j < 27592]
    if name in ("SPEDTEST", "ESSEX3IN1_dataset"):
        assert all(p.tolist() == [i] for i, p in enumerate(positives))


def test_protocol_registry() -> None:
    expected = {"nordland_2760": (2760, 27592), "sped": (607, 607), "msls_val": (740, 18871),
                "pitts30k_test": (6816, 10000), "pitts250k_test": (8280, 83952)}
    for name, counts in expected.items():
        assert (PROTOCOLS[name].num_queries, PROTOCOLS[name].num_database) == counts
    assert get_protocol("Pitts30k-Test").name == "pitts30k_test"
    with pytest.raises(ConfigError, match="unknown protocol"):
        get_protocol("pitts31k")
