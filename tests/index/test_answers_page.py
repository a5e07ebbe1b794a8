"""The query report (issue 12 item 5): a map per query, scaled thumbnails, a summary and pages,
and a look at it in a real browser (headless Chromium, skipped when absent)."""
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from geovpr.data.coords import Coordinates
from geovpr.index.answers_page import page_name, write_answers


def _entries(tmp_path, n: int, grid: np.ndarray) -> list[dict]:
    img = tmp_path / "img.jpg"
    Image.new("RGB", (400, 300), (200, 30, 30)).save(img)
    out = []
    for q in range(n):
        idx = [q % len(grid), (q + 1) % len(grid)]
        matches = [{"image": str(img), "distance": 0.1 * (r + 1), "coords": [float(v) for v in grid[j]]}
                   for r, j in enumerate(idx)]
        est = {"coords": [float(v) for v in grid[idx[0]]], "system": "utm", "method": "weighted",
               "num_matches": 2, "radius_m": 25.0}
        out.append({"query": str(tmp_path / f"q{q}.jpg") if q % 7 else str(img), "matches": matches,
                    "estimate": est if q % 5 else None, "confidence": 0.5})
    return out


def _grid() -> np.ndarray:
    return np.stack(np.meshgrid(500000 + 10.0 * np.arange(6), 4000000 + 10.0 * np.arange(4)), -1).reshape(-1, 2)


def test_small_report_is_one_page_with_a_map_per_estimate(tmp_path):
    grid = _grid()
    entries = _entries(tmp_path, 6, grid)
    files = write_answers(entries, tmp_path / "r.html", database=Coordinates(grid, "utm"))
    assert files == [tmp_path / "r.html"]
    page = files[0].read_text()
    assert page.count("<section") == 6
    assert page.count("<svg") == 4  # queries 0 and 5 have no estimate
    assert page.count("no position estimate") == 2
    # every map shows the database positions inside its square (here all 24 are within a few tens of metres)
    dots = re.findall(r'<g class="database"[^>]*>(.*?)</g>', page)
    assert [d.count("<circle") for d in dots] == [24] * 4


def test_many_queries_give_a_summary_and_bounded_pages(tmp_path):
    grid = _grid()
    entries = _entries(tmp_path, 250, grid)
    files = write_answers(entries, tmp_path / "r.html", database=Coordinates(grid, "utm"), page_size=100)
    assert [f.name for f in files] == ["r.html", "r-p0001.html", "r-p0002.html", "r-p0003.html"]
    summary = files[0].read_text()
    assert summary.count("<tr>") == 1 + 250 and "<section" not in summary and "data:image" not in summary
    assert f"href='{page_name(files[0], 2)}#q150'" in summary
    sections = [f.read_text().count("<section") for f in files[1:]]
    assert sections == [100, 100, 50]
    assert 'id="q150"' in files[2].read_text()
    # one thumbnail per distinct image per page: two files (the red image and unreadable queries' tiles)
    sizes = [f.stat().st_size for f in files[1:]]
    assert max(sizes) < 2 * min(sizes[:2]) + 1  # pages of 100 queries stay the same size


def _chromium() -> str | None:
    return next((shutil.which(b) for b in ("chromium-headless-shell", "chromium", "chromium-browser",
                                           "google-chrome") if shutil.which(b)), None)


def test_report_renders_in_headless_chromium(tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no headless Chromium (apt-get install chromium-headless-shell) to render the report")
    grid = _grid()
    write_answers(_entries(tmp_path, 3, grid)[1:], tmp_path / "r.html", database=Coordinates(grid, "utm"))
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1000,700", f"--screenshot={shot}", (tmp_path / "r.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    orange = (np.abs(pixels - (230, 126, 34)).sum(-1) < 40).sum()  # numbered match markers
    red = (np.abs(pixels - (200, 30, 30)).sum(-1) < 40).sum()  # the thumbnails
    assert orange > 50 and red > 1000
