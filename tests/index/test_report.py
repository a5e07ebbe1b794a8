"""The HTML/PNG report: thumbnails embedded, missing images shown as placeholders, errors listed."""
from __future__ import annotations

import base64
import io
import re

from PIL import Image

from geovpr.index.answers_page import THUMB
from geovpr.index.report import write_report


def test_report_with_missing_image_and_error_entry(tmp_path):
    q = tmp_path / "q <1>.jpg"
    Image.new("RGB", (300, 200), (255, 0, 0)).save(q)
    entries = [
        {"query": str(q), "matches": [
            {"image": str(q), "distance": 0.0, "coords": [47.1, 8.5]},
            {"image": str(tmp_path / "gone.jpg"), "distance": 0.75, "coords": None}],
         "estimate": {"coords": [47.1, 8.5], "system": "latlon", "method": "weighted", "num_matches": 1,
                      "radius_m": 25.0},
         "confidence": 1.0, "confidence_basis": "distinct_place"},
        {"query": str(tmp_path / "bad.jpg"), "matches": [], "estimate": None, "confidence": None,
         "confidence_basis": "none", "error": "unreadable image (skipped)"},
    ]
    write_report(entries, tmp_path / "r.html", tmp_path / "r.png")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "q &lt;1&gt;.jpg" in page and "<1>" not in page  # names are escaped
    assert "#2 d=0.7500 · no coordinates" in page and "error: unreadable image (skipped)" in page
    assert "estimate: 47.100000, 8.500000 (weighted, 1 matches); confidence: 1.000" in page
    uris = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', page)
    assert len(uris) == 4  # query + 2 matches, and the unreadable query's placeholder
    first = Image.open(io.BytesIO(base64.b64decode(uris[0])))
    assert max(first.size) == THUMB and first.getpixel((THUMB // 2, THUMB // 3))[0] > 200  # red: the query
    grey = Image.open(io.BytesIO(base64.b64decode(uris[2])))
    assert abs(grey.getpixel((5, 5))[0] - 200) < 8  # placeholder for the missing file
    with Image.open(tmp_path / "r.png") as png:
        assert png.format == "PNG"
