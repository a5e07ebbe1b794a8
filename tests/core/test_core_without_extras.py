"""The core commands import none of the optional extras (issue 12 item 4).

A fast in-suite guard for ``scripts/check_core_install.sh`` (the real core-only
venv, run by CI): a child Python whose import system refuses the extras' modules
runs ``geovpr eval`` and ``geovpr gds`` end to end and lists the ``index``/``query`` help.
"""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

from geovpr._optional import EXTRAS

SRC = Path(__file__).resolve().parents[2] / "src"

BLOCKER = textwrap.dedent(f"""
    import importlib.abc, sys
    BLOCKED = {sorted(set(EXTRAS))!r}
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
    sys.meta_path.insert(0, Block())
    sys.path.insert(0, {str(SRC)!r})
    from geovpr.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def _cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER, *argv], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_eval_gds_index_query_run_without_the_extras(tmp_path):
    rng = np.random.default_rng(0)
    for split, x0 in (("database", 0), ("queries", 3)):
        (tmp_path / "set" / split).mkdir(parents=True)
        for i in range(4):
            img = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
            Image.fromarray(img).save(tmp_path / "set" / split / f"@{x0 + 40 * i:04d}@0@32@T@0@0@{i}@.png")
    run = _cli("eval", "--data", str(tmp_path / "set"), "--model", "pixels", "--no-progress", "--out", "r.json",
               cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "r.json").read_text())["num_queries"] == 4
    run = _cli("gds", "--data", str(tmp_path / "set"), "--model", "pixels", "--out", "gds", "--no-progress",
               cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "gds" / "gds.json").is_file() and "pip install 'geovpr[plots]'" in run.stderr
    for command in (["index", "build", "--help"], ["query", "--help"], ["models"]):
        run = _cli(*command, cwd=tmp_path)
        assert run.returncode == 0, run.stderr
    run = _cli("train", "--recipe", "demo", "--out", "t", cwd=tmp_path)
    assert run.returncode == 2 and "pip install 'geovpr[train]'" in run.stderr
