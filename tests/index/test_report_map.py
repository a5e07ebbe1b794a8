"""The inline SVG map of a query's answer (issue 12 item 5): positions, scale and clipping, known answers."""
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from geovpr.index.report_map import MAX_DOTS, half_width, nice_length, position_svg

NS = {"s": "http://www.w3.org/2000/svg"}


def _svg(text: str) -> ET.Element:
    return ET.fromstring(text.split('<div class="outside">')[0])


def test_nice_length():
    assert [nice_length(x) for x in (1, 3.9, 7, 19.9, 20, 480, 0.3)] == [1, 2, 5, 10, 20, 200, 0.2]


def test_positions_are_drawn_to_scale_north_up():
    size = 200
    # radius 25 m, matches at 10 m east (rank 1) and 20 m north (rank 2): half = 1.15 * 37.5 m
    text = position_svg((500000.0, 4000000.0), 25.0, [(1, (500010.0, 4000000.0)), (2, (500000.0, 4000020.0))],
                        np.array([[500000.0, 4000000.0], [500030.0, 4000000.0], [501000.0, 4000000.0]]), size=size)
    root = _svg(text)
    half = half_width(25.0, [10.0, 20.0])
    assert half == pytest.approx(1.15 * 37.5)
    scale = (size / 2 - 8) / half
    est = root.find("s:circle[@class='estimate']", NS)
    assert (float(est.get("cx")), float(est.get("cy"))) == (100.0, 100.0)
    assert float(root.find("s:circle[@class='radius']", NS).get("r")) == pytest.approx(25 * scale, abs=0.05)
    marks = root.findall("s:g[@class='match']", NS)
    assert [m.find("s:text", NS).text for m in marks] == ["1", "2"]
    c1, c2 = (m.find("s:circle", NS) for m in marks)
    assert float(c1.get("cx")) == pytest.approx(100 + 10 * scale, abs=0.05) and float(c1.get("cy")) == 100.0
    assert float(c2.get("cy")) == pytest.approx(100 - 20 * scale, abs=0.05)  # north is up
    dots = root.findall("s:g[@class='database']/s:circle", NS)
    assert len(dots) == 2  # the database image 1 km away is outside the square
    assert root.find("s:g[@class='scale']/s:text", NS).text == f"{nice_length(half * 0.6):.3g} m"


def test_far_and_unknown_matches_are_listed_below():
    text = position_svg((0.0, 0.0), 25.0, [(1, (5.0, 0.0)), (2, (0.0, 4000.0)), (3, None)])
    assert len(_svg(text).findall("s:g[@class='match']", NS)) == 1
    assert text.endswith('<div class="outside">#2: 4 km away; #3: no coordinates</div>')


def test_dense_database_is_subsampled():
    grid = np.stack(np.meshgrid(np.arange(-30, 31), np.arange(-30, 31)), -1).reshape(-1, 2).astype(float)
    root = _svg(position_svg((0.0, 0.0), 25.0, [], grid))
    assert len(grid) > MAX_DOTS
    assert len(root.findall("s:g[@class='database']/s:circle", NS)) == MAX_DOTS
