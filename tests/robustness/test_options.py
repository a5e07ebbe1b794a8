"""Every option is validated before any work: exit 2, one line naming the option, nothing written."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def run(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch):
    """The shared in-process ``cli`` runner, from inside ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    return cli


EVAL = ["eval", "--data", "nowhere", "--model", "pixels", "--out", "out/eval.json"]
GDS = ["gds", "--descriptors", "nowhere.npz", "--out", "out/gds"]
INDEX = ["index", "build", "--model", "pixels", "--images", "nowhere", "--out", "out/idx"]
ADD = ["index", "add", "--index", "nowhere", "--images", "nowhere"]
QUERY = ["query", "--index", "nowhere", "--out", "out/q.json", "q.jpg"]

CASES = [
    (EVAL + ["--radius", "-5"], "--radius must be a finite number > 0, got -5.0"),
    (EVAL + ["--radius", "nan"], "--radius must be a finite number > 0, got nan"),
    (EVAL + ["--radius", "inf"], "--radius must be a finite number > 0, got inf"),
    (EVAL + ["--radius", "0"], "--radius must be a finite number > 0"),
    (EVAL + ["--num-workers", "-1"], "--num-workers must be >= 0, got -1"),
    (EVAL + ["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
    (EVAL + ["--recall-values", "1", "0"], "--recall-values must all be >= 1"),
    (EVAL + ["--image-size", "0", "10"], "--image-size sides must be in 1 .. 8192, got 0 10"),
    (EVAL + ["--image-size", "56000", "56000"], "--image-size sides must be in 1 .. 8192"),
    (EVAL + ["--pca-dim", "0"], "--pca-dim must be >= 1"),
    (EVAL + ["--pca-dim", "8"], "--pca-dim needs --pca-data"),
    (EVAL + ["--device", "junk"], "--device 'junk' is not a torch device"),
    (EVAL + ["--device", "cuda:99"], "--device cuda:99: "),
    (GDS + ["--bin-size", "0"], "--bin-size must be a finite number > 0, got 0.0"),
    (GDS + ["--bin-size", "-5"], "--bin-size must be a finite number > 0, got -5.0"),
    (GDS + ["--bin-size", "500"], "--bin-size 500.0 is larger than --max-distance 100.0"),
    (GDS + ["--gap-bin", "0"], "--gap-bin must be a finite number > 0"),
    (GDS + ["--radius", "nan"], "--radius must be a finite number > 0, got nan"),
    (GDS + ["--max-distance", "inf"], "--max-distance must be a finite number > 0, got inf"),
    (GDS + ["--slope-range", "-1"], "--slope-range must be a finite number > 0"),
    (GDS + ["-k", "0"], "-k/--top-k must be >= 1, got 0"),
    (GDS + ["--device", "cuda|junk"], "--device 'cuda|junk' is not a torch device"),
    (INDEX + ["--device", "junk"], "--device 'junk' is not a torch device"),
    (INDEX + ["--batch-size", "0"], "--batch-size must be >= 1"),
    (INDEX + ["--chunk-size", "0"], "--chunk-size must be >= 1"),
    (ADD + ["--device", "cuda:99"], "--device cuda:99: "),
    (QUERY + ["-k", "0"], "-k/--top-k must be >= 1, got 0"),
    (QUERY + ["--radius", "nan"], "--radius must be a finite number > 0, got nan"),
    (QUERY + ["--radius", "-1"], "--radius must be a finite number > 0, got -1.0"),
    (QUERY + ["--device", "junk"], "--device 'junk' is not a torch device"),
    (QUERY + ["--batch-size", "0"], "--batch-size must be >= 1"),
    (["query", "--index", "x", "--out", "out/a.html", "q.jpg"], "--out out/a.html: --out is the JSON answers file"),
    (["query", "--index", "x", "--out", "out/a.png", "q.jpg"], "--out out/a.png: --out is the JSON answers file"),
    (["query", "--index", "x", "--out", "out/a.json", "--report", "out/a.json", "q.jpg"],
     "--report out/a.json would overwrite the answers file --out out/a.json"),
    (["demo", "--out", "out/demo", "--device", "junk"], "--device 'junk' is not a torch device"),
]


@pytest.mark.parametrize("args, message", CASES, ids=[" ".join(c[0][:1] + c[0][-2:]) for c in CASES])
def test_bad_option_is_one_line_before_any_work(run, tmp_path: Path, args: list[str], message: str) -> None:
    rc, text = run(*args)
    assert rc == 2 and message in text, text
    errors = [line for line in text.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "Traceback" not in text
    assert not (tmp_path / "out").exists()  # nothing was written


def _npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def _good(n: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"database": rng.normal(size=(n, 8)), "queries": rng.normal(size=(2, 8)),
            "database_utm": rng.uniform(0, 50, (n, 2)), "queries_utm": rng.uniform(0, 50, (2, 2))}


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({}, "no array named one of ['database'"),
        ({**_good(), "database": np.array([["a", "b"]] * 4)}, "array 'database' is <U1 of shape (4, 2), expected numbers"),
        ({**_good(), "database_utm": np.zeros((4, 3))}, "array 'database_utm' is float64 of shape (4, 3), expected numbers [N, 2]"),
        ({**_good(), "database": np.vstack([np.full((1, 8), np.nan), np.ones((3, 8))])}, "database row 0 is not finite"),
        ({**_good(), "queries_utm": np.array([[0.0, 1.0], [np.inf, 2.0]])}, "queries_utm row 1 is not finite"),
        ({**_good(), "queries": np.ones((2, 5))}, "database descriptors are 8-D, queries 5-D"),
        ({**_good(0), "database_utm": np.zeros((0, 2))}, "database is empty"),
    ],
)
def test_bad_descriptor_files_are_one_line_errors(run, tmp_path: Path, arrays: dict, message: str) -> None:
    path = _npz(tmp_path / "d.npz", **arrays)
    rc, text = run("gds", "--descriptors", path, "--out", tmp_path / "gds")
    assert rc == 2 and message in text and "Traceback" not in text, text
    assert not (tmp_path / "gds" / "gds.json").exists()


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"version https://git-lfs.github.com/spec/v1\n"])
def test_unreadable_descriptor_files(run, tmp_path: Path, content: bytes) -> None:
    (tmp_path / "d.npz").write_bytes(content)
    rc, text = run("gds", "--descriptors", tmp_path / "d.npz", "--out", tmp_path / "gds")
    assert rc == 2 and "d.npz: not a readable .npz file" in text


def test_good_descriptor_file_still_works(run, tmp_path: Path) -> None:
    path = _npz(tmp_path / "d.npz", **_good())
    rc, _ = run("gds", "--descriptors", path, "--out", tmp_path / "gds")
    report = json.loads((tmp_path / "gds" / "gds.json").read_text())
    assert rc == 0 and report["model"] == "d"


def test_recipe_name_cannot_send_the_output_outside_runs() -> None:
    from geovpr.commands.train import default_out
    from geovpr.errors import ConfigError

    assert default_out("my_run") == Path("runs") / "my_run"
    for name in ("/etc", "../../x", "a/b", "..", "", "a\\b"):
        with pytest.raises(ConfigError, match="is not a plain folder name"):
            default_out(name)


def test_eval_results_never_hold_nan(tmp_path: Path) -> None:
    from geovpr.errors import DataError
    from geovpr.eval.results import write_json

    with pytest.raises(DataError, match="non-finite number"):
        write_json({"recall": {"1": float("nan")}}, tmp_path / "r.json")
    assert not (tmp_path / "r.json").exists()
    write_json({"recall": {"1": np.float32(0.5)}}, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == {"recall": {"1": 0.5}}
