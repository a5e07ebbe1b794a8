"""Built-in architectures, configs, saving/loading our own checkpoints, load_model specs."""
from __future__ import annotations

import json

import pytest
import torch

from geovpr.errors import CheckpointError, ConfigError
from geovpr.models.architectures import get_architecture
from geovpr.models.checkpoint import save_model
from geovpr.models.factory import build_model, list_architectures, load_model
from geovpr.models.vpr_model import VPRModel

TINY = ("tiny_vit_gem", "tiny_vit_salad", "tiny_vit_softp")
RELEASED = ("dinov2_vits14_salad", "dinov2_vitb14_salad", "dinov2_vitb14_gem", "sage_vitb14_softp",
            "sage_vitl14_softp", "sage_vitl14_softp_ih")


def test_all_named_architectures_are_listed():
    assert set(TINY) | set(RELEASED) <= set(list_architectures())


@pytest.mark.parametrize("name", TINY)
def test_tiny_models_run_and_are_small(name):
    torch.manual_seed(0)
    model = load_model(name)
    assert isinstance(model, VPRModel) and not model.training
    n_params = sum(p.numel() for p in model.parameters())
    assert 1_000 <= n_params <= 150_000
    h, w = model.preprocess.size
    with torch.no_grad():
        out = model(torch.randn(3, 3, h, w))
    assert out.shape == (3, model.descriptor_dim)
    assert torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5)
    agg = model.config["aggregator"]
    if "num_clusters" in agg:
        assert agg["num_clusters"] < (h // 14) * (w // 14)


@pytest.mark.parametrize("name,trainable,total", [
    # docs/reference-notes.md §3.5: the parameter counts of the SAGE releases (trainable incl. unused single_branch).
    ("sage_vitb14_softp", 1_956_550, 88_535_494),
    ("sage_vitl14_softp", 2_497_734, 306_864_326),
    ("sage_vitl14_softp_ih", 2_497_734 + 7_880_192, 306_864_326 + 7_880_192),
])
def test_sage_release_parameter_counts(name, trainable, total):
    with torch.device("meta"):
        model = build_model(get_architecture(name))
    assert sum(p.numel() for p in model.trainable_parameters()) == trainable
    assert sum(p.numel() for p in model.parameters()) == total
    assert model.descriptor_dim == 8448 and model.preprocess.size == (322, 322)


def test_cliquemining_release_trains_last_four_blocks_and_norm():
    with torch.device("meta"):
        model = build_model(get_architecture("dinov2_vitb14_salad"))
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    blocks = {n.split(".")[3] for n in names if n.startswith("backbone.model.blocks.")}
    assert blocks == {"8", "9", "10", "11"}
    assert {"backbone.model.norm.weight", "aggregator.dust_bin"} <= names
    assert "backbone.model.pos_embed" not in names
    assert model.descriptor_dim == 8448


@pytest.mark.parametrize("name", TINY)
def test_config_round_trip_and_save_load(name, tmp_path):
    torch.manual_seed(0)
    model = load_model(name)
    rebuilt = VPRModel.from_config(json.loads(json.dumps(model.config)))
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    assert rebuilt.config == model.config
    folder = save_model(model, tmp_path / "ckpt")
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    x = torch.randn(2, 3, *model.preprocess.size)
    with torch.no_grad():
        expected = model(x)
        for spec in (folder, folder / "model.safetensors", folder / "config.json"):
            loaded = load_model(spec)
            assert torch.equal(loaded(x), expected)
            assert loaded.fingerprint() == model.fingerprint()


def test_file_stem_checkpoint(tmp_path):
    model = load_model("tiny_vit_gem")
    folder = save_model(model, tmp_path / "run")
    (folder / "model.safetensors").rename(tmp_path / "best.safetensors")
    (folder / "config.json").rename(tmp_path / "best.json")
    assert load_model(tmp_path / "best").fingerprint() == model.fingerprint()


def test_interact_head_mode_is_part_of_the_config(tmp_path):
    cfg = get_architecture("tiny_vit_softp")
    cfg["head"] = {"name": "interact", "d_model": 48, "nhead": 2, "dim_feedforward": 32, "num_layers": 1,
                   "mode": "batch"}
    model = build_model(cfg)
    assert model.head_mode == "batch"
    model.head_mode = "single"
    assert model.config["head"]["mode"] == "single"
    folder = save_model(model, tmp_path / "ih")
    assert load_model(folder).head_mode == "single"
    assert load_model(folder, head_mode="batch").head_mode == "batch"
    assert load_model("tiny_vit_gem").head_mode is None


def test_pretrained_weights_for_a_builtin_name(tmp_path):
    torch.manual_seed(1)
    source = load_model("tiny_vit_salad")
    torch.save({"state_dict": source.state_dict(), "epoch": 1}, tmp_path / "w.ckpt")
    torch.manual_seed(2)
    model = load_model("tiny_vit_salad", pretrained=tmp_path / "w.ckpt")
    assert model.fingerprint() == source.fingerprint()


def test_unknown_specs_and_options_are_clear_errors():
    with pytest.raises(ConfigError, match="tiny_vit_gem") as err:
        load_model("dinov2_vitx99_foo")
    assert "pixels" in str(err.value)
    with pytest.raises(CheckpointError, match="checkpoint not found: .*absent.ckpt"):
        load_model("runs/absent.ckpt")
    with pytest.raises(ConfigError, match="unknown load_model option"):
        load_model("tiny_vit_gem", colour=True)


def test_pixels_spec_is_resolved_lazily():
    model = load_model("pixels")
    assert model.config == {"name": "pixels"}
