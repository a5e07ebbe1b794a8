"""Plots and the retrieval grid write real PNGs of the expected size."""
import numpy as np
from PIL import Image

from geovpr.eval.gds import gds_report
from geovpr.eval.visualize import GridRow, grid_size, plot_gds, plot_recalls, retrieval_grid


def test_retrieval_grid_has_expected_size_and_frames(tmp_path):
    imgs = [Image.fromarray(np.full((40, 60, 3), v, np.uint8)) for v in (0, 60, 120, 180, 240)]
    rows = [
        GridRow(imgs[0], imgs[1:], [3.0, 12.5, 40.0, 80.0], [True, True, False, False], label="sage"),
        GridRow(imgs[4], imgs[:2], [7.0, 200.0], [True, False]),
    ]
    out = retrieval_grid(rows, tmp_path / "grid.png", thumb=50, pad=4, caption=14)
    img = Image.open(out)
    assert img.size == (4 + 5 * 54 + 4, 4 + 2 * (50 + 14 + 4)) == grid_size(2, 4, thumb=50, pad=4, caption=14)
    arr = np.asarray(img.convert("RGB"))
    first_match_x = 2 * 4 + 54
    assert tuple(arr[4, first_match_x]) == (40, 170, 60)  # correct -> green frame
    assert tuple(arr[4, 2 * 4 + 3 * 54]) == (210, 40, 40)  # third match wrong -> red frame
    assert tuple(arr[30, 4 + 25]) == (0, 0, 0)  # query thumbnail pasted


def test_plots_are_written(tmp_path):
    rng = np.random.default_rng(0)
    db = rng.uniform(0, 200, (100, 2))
    q = rng.uniform(50, 150, (10, 2))
    reports = {"coords": gds_report(q, db, q, db), "noise": gds_report(rng.normal(size=(10, 4)), rng.normal(size=(100, 4)), q, db)}
    p1 = plot_gds(reports, tmp_path / "gds.png")
    p2 = plot_recalls({"a": {"recall": {"1": 0.5, "5": 0.7, "10": 0.8}}}, tmp_path / "recall.png")
    for p in (p1, p2):
        with Image.open(p) as im:
            assert im.format == "PNG" and im.size[0] > 300


def test_retrieval_grid_tolerates_unreadable_images_and_custom_captions(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    row = GridRow(Image.new("RGB", (30, 30), (0, 0, 255)), [broken, tmp_path / "missing.png"], [float("nan")] * 2,
                  [None, None], captions=["#1 d=0.100", "#2 d=0.200"])
    out = retrieval_grid([row], tmp_path / "grid.png", thumb=50, pad=4, caption=14)
    arr = np.asarray(Image.open(out).convert("RGB"))
    for j in (1, 2):  # grey placeholder tiles, no frame (correctness unknown)
        x = 2 * 4 + j * 54
        assert tuple(arr[4, x]) == (200, 200, 200) and tuple(arr[30, x + 25]) == (200, 200, 200)
    assert tuple(arr[30, 4 + 25]) == (0, 0, 255)
