"""A missing optional extra gives one line naming ``geovpr[EXTRA]`` (issue 12 item 4)."""
import json
import sys

import numpy as np
import pytest

from geovpr._optional import EXTRAS, install_hint, missing_extra, require
from geovpr.cli import main
from geovpr.errors import MissingExtraError


@pytest.fixture
def without(monkeypatch):
    """Make ``import NAME`` fail as if the module were not installed."""
    def hide(*names):
        for name in names:
            for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
                monkeypatch.delitem(sys.modules, loaded)
            monkeypatch.setitem(sys.modules, name, None)
    return hide


def test_require_names_the_extra(without):
    without("matplotlib")
    with pytest.raises(MissingExtraError, match=r"the plot needs the optional package 'matplotlib' from the 'plots'"):
        require("matplotlib.pyplot", "the plot")
    assert install_hint("plots") == "pip install 'geovpr[plots]'"


def test_require_returns_an_installed_module():
    assert require("json") is json


def test_unknown_module_is_not_an_extra():
    assert missing_extra(ModuleNotFoundError("x", name="not_a_geovpr_extra")) is None
    assert EXTRAS["pytorch_metric_learning"] == "train" and EXTRAS["faiss"] == "faiss"


def test_cli_says_which_extra_to_install(without, tmp_path, caplog):
    without("faiss")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", database=rng.normal(size=(5, 4)), queries=rng.normal(size=(2, 4)))
    data = tmp_path / "set"
    for sub, n in (("database", 3), ("queries", 2)):
        (data / sub).mkdir(parents=True)
        for i in range(n):
            from PIL import Image
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(data / sub / f"@{i * 5}@{i}@32@T@{i}@.jpg")
    code = main(["eval", "--data", str(data), "--model", "pixels", "--knn-backend", "faiss", "--no-progress"])
    assert code == 2
    assert "geovpr eval needs the optional package 'faiss' from the 'faiss' extra: pip install 'geovpr[faiss]'" \
        in caplog.text


def test_gds_without_matplotlib_writes_json_only(without, tmp_path, caplog):
    without("matplotlib")
    pts = np.arange(20, dtype=float).reshape(10, 2) * 10
    np.savez(tmp_path / "d.npz", database=pts, queries=pts[:3], database_utm=pts, queries_utm=pts[:3])
    assert main(["gds", "--descriptors", str(tmp_path / "d.npz"), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "gds.json").is_file()
    assert not (tmp_path / "o" / "gds.png").exists()
    assert "pip install 'geovpr[plots]'" in caplog.text
