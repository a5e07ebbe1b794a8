"""ImageTable: validation with file/row in the message, concat, CSR grouping."""
from __future__ import annotations

import numpy as np
import pytest

from geovpr.data.table import ImageTable
from geovpr.errors import DataError


def make(n: int, place_ids: list[int], source: str = "t.csv") -> ImageTable:
    return ImageTable([f"img{i}.jpg" for i in range(n)], place_ids, np.zeros((n, 2)), ["c"] * n, source=source)


def test_nan_coordinate_names_source_row_and_path() -> None:
    utm = np.zeros((3, 2))
    utm[2, 1] = np.nan
    with pytest.raises(DataError, match=r"t\.csv: row 2 \(c\.jpg\)"):
        ImageTable(["a.jpg", "b.jpg", "c.jpg"], [0, 0, 1], utm, ["x"] * 3, source="t.csv")


def test_column_length_mismatch_is_an_error() -> None:
    with pytest.raises(DataError, match="place_ids has 2 rows, expected 3"):
        ImageTable(["a", "b", "c"], [0, 1], np.zeros((3, 2)), ["x"] * 3)


def test_concat_keeps_place_and_cluster_ids_disjoint() -> None:
    t = ImageTable.concat([make(3, [0, 0, 2]), make(2, [0, 1])])
    assert t.place_ids.tolist() == [0, 0, 2, 3, 4]
    assert t.clusters.tolist() == [0, 0, 2, 3, 4]
    assert t.num_places == 4


def test_place_groups_csr() -> None:
    t = make(6, [5, 1, 5, 3, 1, 5])
    ids, offsets, rows = t.place_groups()
    assert ids.tolist() == [1, 3, 5]
    groups = [sorted(rows[offsets[i] : offsets[i + 1]].tolist()) for i in range(len(ids))]
    assert groups == [[1, 4], [3], [0, 2, 5]]
    assert t.subset(np.array([0, 2])).place_ids.tolist() == [5, 5]
