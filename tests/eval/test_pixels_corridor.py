"""Known answer on real data: the raw-pixel baseline on VPR-Bench's Corridor."""
from __future__ import annotations

from pathlib import Path

import pytest

from geovpr.data.readers import load_eval_set
from geovpr.eval.evaluate import evaluate
from geovpr.models.pixels import PixelsModel


@pytest.fixture(scope="module")
def corridor(shared_data: Path):
    root = shared_data / "vprbench_corridor"
    if not (root / "ground_truth_new.npy").is_file():
        pytest.skip(f"{root} not present")
    return load_eval_set(root, protocol="corridor")


@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_pixels_corridor_recall(corridor, backend: str) -> None:
    result = evaluate(PixelsModel(), corridor, batch_size=16, knn_backend=backend, ks=(1, 5, 10), progress=False)
    assert (result["num_queries"], result["num_database"], result["queries_without_positives"]) == (111, 111, 0)
    assert [round(result["recall"][k], 3) for k in ("1", "5", "10")] == [0.270, 0.532, 0.811]
    # 0.270 = 30/111, 0.532 = 59/111, 0.811 = 90/111 hits
    assert [round(result["recall"][k] * 111) for k in ("1", "5", "10")] == [30, 59, 90]


def test_pixels_descriptor_definition(corridor) -> None:
    import numpy as np
    from PIL import Image

    path = corridor.query_paths[7]
    thumb = np.asarray(Image.open(path).convert("L").resize((32, 24), Image.BILINEAR), dtype=np.float64).ravel()
    ref = (thumb - thumb.mean()) / np.linalg.norm(thumb - thumb.mean())
    got = PixelsModel().describe([path])[0]
    assert got.shape == (768,)
    np.testing.assert_allclose(got, ref, atol=1e-6)
