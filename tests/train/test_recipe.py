"""Recipes: YAML + dotted overrides, validation (unknown keys named), variants, the shipped files, the CLI."""
from __future__ import annotations

from pathlib import Path

import pytest

from geovpr.cli import main
from geovpr.errors import ConfigError
from geovpr.train.randaugment import RandAugment
from geovpr.train.recipe import check_paths, parse_override, resolve_recipe

RECIPES = Path(__file__).resolve().parents[2] / "src" / "geovpr" / "recipes"


def test_parse_override_reads_yaml_values() -> None:
    assert parse_override("train.lr=1e-4") == (["train", "lr"], 1e-4)
    assert parse_override("train.image_size=[112, 96]") == (["train", "image_size"], [112, 96])
    assert parse_override("mining.descriptor_model=null") == (["mining", "descriptor_model"], None)
    assert parse_override("data.sources.gsv.path=/a=b") == (["data", "sources", "gsv", "path"], "/a=b")
    with pytest.raises(ConfigError, match="not of the form key=value"):
        parse_override("train.lr")


def test_shipped_recipes_resolve_with_released_values() -> None:
    cm = resolve_recipe(RECIPES / "cliquemining_salad.yaml")
    assert cm.model.arch == "dinov2_vitb14_salad"
    gsv, msls = cm.data.sources
    assert (gsv.name, msls.name) == ("gsv", "msls")
    assert (gsv.sampler.options["places_per_batch"], msls.sampler.options["places_per_batch"]) == (30, 30)
    assert msls.sampler.options["tau"] == 25.0 and msls.sampler.options["similar_clusters"] == 15
    assert msls.sampler.options["refresh_every"] == 0 and msls.exclude_cities == ("cph", "sf")
    assert (cm.train.lr, cm.train.weight_decay, cm.train.epochs) == (6e-5, 9.5e-9, 4)
    assert cm.train.scheduler.as_dict() == {"name": "linear", "start_factor": 1.0, "end_factor": 0.2,
                                            "total_iters": 4000}
    assert cm.train.image_size == (224, 224)
    assert resolve_recipe(RECIPES / "gsv_salad.yaml").data.sources[0].sampler.options["places_per_batch"] == 60
    archs = {v: resolve_recipe(RECIPES / "sage_softp.yaml", [f"variant={v}"]).model
             for v in ("vitb", "vitb_ih", "vitl", "vitl_ih")}
    assert archs["vitb"].arch == "sage_vitb14_softp" and not archs["vitb"].config
    assert archs["vitb_ih"].config["head"]["d_model"] == 768
    assert archs["vitl_ih"].arch == "sage_vitl14_softp_ih"
    sage = resolve_recipe(RECIPES / "sage_softp.yaml")
    s = {src.name: src for src in sage.data.sources}["msls"].sampler.options
    assert (sage.train.lr, s["tau1"], s["min_clique"], s["images_per_place"], s["refresh_every"]) == (
        1e-4, 25.0, 10, 4, 1)
    resolve_recipe(RECIPES / "demo.yaml")


def test_unknown_keys_are_named() -> None:
    with pytest.raises(ConfigError, match=r"unknown recipe key\(s\) \['train.learning_rate'\]"):
        resolve_recipe(RECIPES / "demo.yaml", ["train.learning_rate=0.1"])
    with pytest.raises(ConfigError, match=r"data.sources.train.pth"):
        resolve_recipe(RECIPES / "demo.yaml", ["data.sources.train.pth=/x"])
    with pytest.raises(ConfigError, match="unknown variant 'vitz'"):
        resolve_recipe(RECIPES / "sage_softp.yaml", ["variant=vitz"])
    with pytest.raises(ConfigError, match="train.precision"):
        resolve_recipe(RECIPES / "demo.yaml", ["train.precision=8-mixed"])


def test_overrides_beat_variant_and_file() -> None:
    cfg = resolve_recipe(RECIPES / "sage_softp.yaml", ["model.arch=tiny_vit_softp", "variant=vitl", "train.lr=3e-4"])
    assert cfg.model.arch == "tiny_vit_softp" and cfg.train.lr == 3e-4


def test_data_paths_must_be_set(tmp_path: Path) -> None:
    cfg = resolve_recipe(RECIPES / "cliquemining_salad.yaml")
    with pytest.raises(ConfigError, match=r"data.sources.gsv.path is not set: pass data.sources.gsv.path="):
        check_paths(cfg)
    cfg = resolve_recipe(RECIPES / "cliquemining_salad.yaml",
                         [f"data.sources.gsv.path={tmp_path}", f"data.sources.msls.path={tmp_path / 'no'}"])
    with pytest.raises(ConfigError, match="data.sources.msls.path: .*no does not exist"):
        check_paths(cfg)


def test_cli_train_runs_demo_recipe_and_reports_errors(gsv_root: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    small = ["model.options.image_size=56", "train.image_size=[56,56]", "train.max_steps=2", "train.progress_bar=false",
             "data.sources.train.sampler.places_per_batch=4", "data.sources.mined.sampler.places_per_batch=4",
             "data.sources.mined.sampler.similar_clusters=3", "data.sources.mined.sampler.batches_per_epoch=3"]
    paths = [f"data.sources.train.path={gsv_root}", f"data.sources.mined.path={gsv_root}"]
    out = tmp_path / "run"
    assert main(["train", "--recipe", str(RECIPES / "demo.yaml"), *paths, *small, "--out", str(out)]) == 0
    assert (out / "model" / "model.safetensors").is_file() and (out / "checkpoints" / "last.ckpt").is_file()
    assert main(["train", "--recipe", str(RECIPES / "demo.yaml"), *small, "--out", str(tmp_path / "x")]) == 2
    assert main(["train", "--recipe", str(RECIPES / "demo.yaml"), "train.bogus=1", "--print-recipe"]) == 2


def test_released_recipes_use_randaugment_and_the_demo_does_not() -> None:
    for name in ("cliquemining_salad", "gsv_salad", "sage_softp"):
        ra = resolve_recipe(RECIPES / f"{name}.yaml").train.randaugment
        assert ra == RandAugment(num_ops=3, magnitude=9, num_magnitude_bins=31, interpolation="bilinear"), name
    demo = resolve_recipe(RECIPES / "demo.yaml")
    assert demo.train.randaugment.num_ops == 0
    assert "RandAugment off" in (RECIPES / "demo.yaml").read_text()  # and the file says so


@pytest.mark.parametrize("override,key", [
    ("train.randaugment.num_ops=many", "train.randaugment.num_ops"),
    ("train.randaugment.magnitude=31", "train.randaugment.magnitude"),
    ("train.randaugment.interpolation=cubic", "train.randaugment.interpolation"),
])
def test_bad_randaugment_values_name_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=f"^{key} must be"):
        resolve_recipe(RECIPES / "demo.yaml", [override])
    with pytest.raises(ConfigError, match="unknown recipe key"):
        resolve_recipe(RECIPES / "demo.yaml", ["train.randaugment.ops=3"])
