"""Typed recipes: every bad value is a one-line ConfigError naming the key, raised when the recipe resolves
(before any data is read or --out is created)."""
from __future__ import annotations

from pathlib import Path

import pytest

from geovpr.cli import main
from geovpr.errors import ConfigError
from geovpr.train.config import Recipe
from geovpr.train.recipe import resolve_recipe

RECIPES = Path(__file__).resolve().parents[2] / "src" / "geovpr" / "recipes"
SRC = "data.sources.mined.sampler"


@pytest.mark.parametrize("override,message", [
    ("train.lr=abc", "train.lr must be a finite number, got 'abc'"),
    ("train.lr=0", "train.lr must be > 0, got 0.0"),
    ("train.epochs=many", "train.epochs must be an integer, got 'many'"),
    ("train.epochs=2.5", "train.epochs must be an integer, got 2.5"),
    ("seed=x", "seed must be an integer, got 'x'"),
    ("train.devices=0", "train.devices must be >= 1, got 0"),
    ("data.num_workers=-1", "data.num_workers must be >= 0, got -1"),
    (f"{SRC}.images_per_place=1", rf"{SRC}.images_per_place must be >= 2 \(the MS loss needs two images"),
    (f"{SRC}.tau=near", rf"{SRC}: cliquemining: tau must be a finite number, got 'near'"),
    (f"{SRC}.name=nope", rf"{SRC}.name: unknown sampler 'nope'"),
    ("train.progress_bar=maybe", "train.progress_bar must be true or false, got 'maybe'"),
    ("train.knn_backend=annoy", r"train.knn_backend must be one of \['torch', 'faiss'\], got 'annoy'"),
    ("train.image_size=[0,56]", "train.image_size must be >= 1, got 0"),
    ("train.image_size=224", r"train.image_size must be \[height, width\], got 224"),
    ("train.scheduler.total_iters=0", "train.scheduler.total_iters must be >= 1, got 0"),
    ("loss.beta=-1", "loss.beta must be > 0, got -1.0"),
    ("data.sources.train.radius=0", "data.sources.train.radius must be > 0, got 0.0"),
    ("data.sources.train.cities=berlin", "data.sources.train.cities must be a list of names, got 'berlin'"),
    ("data.eval.x.protocol=nope", "data.eval.x.protocol: unknown protocol 'nope'"),
    ("mining.descriptor_batch_size=0", "mining.descriptor_batch_size must be >= 1, got 0"),
])
def test_bad_values_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_recipe(RECIPES / "demo.yaml", [override])


def test_resolved_recipe_is_typed_and_frozen() -> None:
    r = resolve_recipe(RECIPES / "sage_softp.yaml", ["train.devices=[0, 1]", "seed=3"])
    assert isinstance(r, Recipe) and r.seed == 3 and r.train.devices == (0, 1) and r.train.lr == 1e-4
    mined = {s.name: s for s in r.data.sources}["msls"].sampler
    assert mined.name == "sage" and mined.images_per_place == 4 and mined.options["tau1"] == 25.0
    with pytest.raises(AttributeError):
        r.train.lr = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        mined.options["tau1"] = 1.0  # type: ignore[index]


def test_bad_value_fails_before_out_is_created(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["train", "--recipe", str(RECIPES / "demo.yaml"), "data.sources.train.path=/nonexistent",
                 "train.lr=abc", "--out", str(out)]) == 2
    assert not out.exists()


def test_randaugment_settings_are_checked_with_the_recipe() -> None:
    with pytest.raises(ConfigError, match=r"train.randaugment.magnitude must be in \[0, 30\]"):
        resolve_recipe(RECIPES / "demo.yaml", ["train.randaugment.magnitude=31"])
    r = resolve_recipe(RECIPES / "cliquemining_salad.yaml")
    assert r.train.randaugment.num_ops == 3
