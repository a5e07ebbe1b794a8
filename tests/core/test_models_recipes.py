"""``geovpr models``, shipped recipes by name, and what an installed wheel contains (issue 12 item 3)."""
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from geovpr.cli import main
from geovpr.errors import ConfigError
from geovpr.models.architectures import RANDOM_INIT_ARCHITECTURES, get_architecture, list_architectures
from geovpr.models.factory import load_model
from geovpr.recipes import list_recipes, recipe_path
from geovpr.train.recipe import load_recipe_file, resolve_recipe

ROOT = Path(__file__).resolve().parents[2]
RECIPE_DIR = ROOT / "src" / "geovpr" / "recipes"


def _models(capsys) -> dict[str, dict]:
    assert main(["models", "--json"]) == 0
    return {m["name"]: m for m in json.loads(capsys.readouterr().out)}


def test_models_lists_every_builtin_with_sizes_of_the_built_model(capsys):
    listed = _models(capsys)
    assert {"pixels", *list_architectures()} <= set(listed)
    for name in ["pixels", *sorted(RANDOM_INIT_ARCHITECTURES)]:  # small enough to build here
        model = load_model(name)
        assert listed[name]["descriptor_dim"] == model.descriptor_dim
        assert listed[name]["input_size"] == list(model.preprocess.size)
        assert listed[name]["weights"].startswith("none")


def test_models_dinov2_sizes_follow_their_configs(capsys):
    listed = _models(capsys)
    for name in list_architectures():
        cfg = get_architecture(name)
        agg = cfg["aggregator"]
        if agg["name"] == "salad":  # SALAD: clusters x cluster_dim + global token
            expected = agg["num_clusters"] * agg["cluster_dim"] + agg["token_dim"]
        elif agg["name"] == "gem":
            expected = agg["num_channels"]
        else:
            continue
        assert listed[name]["descriptor_dim"] == expected, name
        assert listed[name]["input_size"] == cfg["preprocess"]["size"]
        if name not in RANDOM_INIT_ARCHITECTURES:
            assert "--backbone-weights" in listed[name]["weights"]
    assert listed["dinov2_vitb14_salad"]["descriptor_dim"] == 64 * 128 + 256  # the SALAD paper's 8448


def test_models_table(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["name", "kind", "descriptor"]
    assert any(line.split()[:4] == ["tiny_vit_gem", "architecture", "48", "112x112"] for line in lines)


def test_shipped_recipes_by_name_and_path(tmp_path, monkeypatch):
    assert list_recipes() == sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))
    assert {"cliquemining_salad", "sage_softp", "gsv_salad", "demo"} <= set(list_recipes())
    assert recipe_path("cliquemining_salad") == RECIPE_DIR / "cliquemining_salad.yaml"
    assert recipe_path("demo.yaml") == RECIPE_DIR / "demo.yaml"
    assert resolve_recipe("cliquemining_salad") == resolve_recipe(RECIPE_DIR / "cliquemining_salad.yaml")
    own = tmp_path / "demo"  # an existing file wins over a shipped name
    own.write_text((RECIPE_DIR / "demo.yaml").read_text().replace("name: demo", "name: mine"))
    monkeypatch.chdir(tmp_path)
    assert recipe_path("demo") == Path("demo")
    assert load_recipe_file("demo")["name"] == "mine"
    with pytest.raises(ConfigError, match=r"recipe 'nope' not found: .*shipped: cliquemining_salad"):
        recipe_path("nope")
    with pytest.raises(ConfigError, match="not found"):
        recipe_path("sub/demo")  # a path-looking spec is never a shipped name


def test_train_list_recipes_and_missing_recipe(capsys):
    assert main(["train", "--list-recipes"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == list_recipes()
    assert main(["train"]) == 2
    assert main(["train", "--recipe", "demo", "--print-recipe"]) == 0
    assert capsys.readouterr().out.startswith("name: demo\n")


@pytest.mark.slow
def test_installed_wheel_has_recipes_licence_types_and_runs(tmp_path):
    source = tmp_path / "source"  # a copy: building writes *.egg-info next to the sources
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True)
    if build.returncode != 0 and "No module named pip" in build.stderr:
        pytest.skip("pip is not available in this environment")
    assert build.returncode == 0, build.stderr
    wheel = next((tmp_path / "dist").glob("geovpr-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"geovpr/recipes/{n}.yaml" for n in list_recipes()} <= names
    assert "geovpr/py.typed" in names
    dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    assert f"{dist_info}/licenses/LICENSE" in names
    metadata = zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "Requires-Dist: pytorch-lightning>=2.2; extra == \"train\"" in metadata
    shipped = ROOT / "src" / "geovpr" / "weights"
    for f in shipped.glob("*/model.safetensors"):
        assert f"geovpr/weights/{f.parent.name}/model.safetensors" in names
    # Installed (not the source tree): recipes by name and the model list work.
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True)
    code = ("import sys, geovpr; from geovpr.cli import main; assert geovpr.__file__.startswith(sys.argv[1]); "
            "sys.exit(main(sys.argv[2:]))")
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    for argv in (["models"], ["train", "--recipe", "cliquemining_salad", "--print-recipe"]):
        run = subprocess.run([sys.executable, "-c", code, str(target), *argv], capture_output=True, text=True,
                             cwd=tmp_path, env=env)
        assert run.returncode == 0, run.stderr
    assert "name: cliquemining_salad" in run.stdout
