"""Whole models loaded through ``load_model`` from the release checkpoint layouts (fixtures 6, 7).

The fixture state dicts are wrapped the way the releases store them (CliqueMining Lightning
``.ckpt`` → ``state_dict``; SAGE ``.pth`` → ``model_state_dict``, optionally ``module.``-prefixed)
and saved with ``torch.save``; the loader infers the architecture from the keys, and the test
checks that inference against the fixture metadata.
"""
from __future__ import annotations

import pytest
import torch

from geovpr.errors import CheckpointError
from geovpr.models.factory import load_model
from parity_utils import assert_matches, head_options, image_for

pytestmark = pytest.mark.parity


def _save(path, wrapper_key: str, state_dict: dict, **extra) -> str:
    torch.save({wrapper_key: state_dict, **extra}, path)
    return str(path)


def _check_inferred_backbone(model, vit_cfg: dict) -> None:
    cfg = model.config["backbone"]
    for key in ("embed_dim", "depth", "num_heads", "patch_size", "img_size"):
        assert cfg[key] == vit_cfg[key], key
    assert model.backbone.model.num_heads == vit_cfg["num_heads"]


def test_full_salad_model_from_lightning_ckpt(load_fixture, tmp_path):
    sd, io, images = load_fixture("full_salad_model_state_dict"), load_fixture("full_salad_model_io"), \
        load_fixture("images")
    cfg = sd.config
    wrapper = sd.metadata.get("checkpoint_wrapper_key", "state_dict")
    path = _save(tmp_path / "cliquemining.ckpt", wrapper, sd.tensors, epoch=3, global_step=1000,
                 **{"pytorch-lightning_version": "2.6.6", "hyper_parameters": {"lr": 6e-5, "agg_arch": "SALAD"}})
    bb = cfg["backbone_config"]
    model = load_model(path, config={"backbone": {"num_heads": cfg["vit"]["num_heads"],
                                                  "num_trainable_blocks": bb["num_trainable_blocks"],
                                                  "norm_layer": bb["norm_layer"], "return_token": bb["return_token"]}})
    _check_inferred_backbone(model, cfg["vit"])
    # the reference freezes blocks[:-n]: n >= depth trains every block
    assert model.backbone.num_trainable_blocks == min(bb["num_trainable_blocks"], cfg["vit"]["depth"])
    assert model.backbone.norm_layer == bb["norm_layer"] and model.backbone.return_token == bb["return_token"]
    agg = model.config["aggregator"]
    assert agg["name"] == "salad"
    assert (agg["num_clusters"], agg["cluster_dim"], agg["token_dim"]) == \
        (cfg["num_clusters"], cfg["cluster_dim"], cfg["token_dim"])
    x = images[cfg["image"]]
    f, t = model.features(x)
    assert_matches(f, io["backbone_f"], "full_salad_model", "backbone_f")
    assert_matches(t, io["backbone_t"], "full_salad_model", "backbone_t")
    assert_matches(model(x), io["out"], "full_salad_model", "out")


@pytest.fixture(scope="module")
def sage_parts(load_fixture):
    sd, io = load_fixture("full_sage_model_state_dict"), load_fixture("full_sage_model_io")
    head = load_fixture("interacthead_weights")
    return sd, io, head


def _sage_config(cfg: dict) -> dict:
    """Every setting of the metadata that the weights cannot show: ViT heads, encoder heads."""
    return {"backbone": {"num_heads": cfg["vit"]["num_heads"]}, "head": {"nhead": cfg["nhead"]}}


def _sage_image(cfg: dict, io, load_fixture):
    return image_for(cfg, load_fixture("images"), io["backbone_f"], cfg["vit"]["patch_size"])


def test_full_sage_model_without_encoder(sage_parts, load_fixture, tmp_path):
    sd, io, _ = sage_parts
    cfg = sd.config
    path = _save(tmp_path / "sage_b.pth", sd.metadata.get("checkpoint_wrapper_key", "model_state_dict"), sd.tensors)
    model = load_model(path, config=_sage_config(cfg))
    assert model.encoder is None
    _check_inferred_backbone(model, cfg["vit"])
    assert model.config["backbone"]["num_recalib_blocks"] == cfg["num_recalib_blocks"]
    assert model.config["aggregator"]["name"] == "softp"
    assert model.config["aggregator"]["num_channels"] == cfg["num_channels"]
    x = _sage_image(cfg, io, load_fixture)
    feats = model.backbone.forward_features(x)
    assert_matches(feats["f"], io["backbone_f"], "full_sage_model", "backbone_f")
    assert_matches(feats["t"], io["backbone_t"], "full_sage_model", "backbone_t")
    assert_matches(feats["dpn_exponents"], io["backbone_dpn_exponents"], "full_sage_model", "backbone_dpn_exponents")
    out, inter = model.aggregator.forward_intermediates(feats["f"], feats["t"])
    assert_matches(inter["softweight_beta"], io["agg_softweight_beta"], "full_sage_model", "agg_softweight_beta")
    assert_matches(inter["fp"], io["agg_fp"], "full_sage_model", "agg_fp")
    assert_matches(inter["dpn_exponent"], io["agg_dpn_exponent"], "full_sage_model", "agg_dpn_exponent")
    assert_matches(model(x), io["out_no_encoder"], "full_sage_model", "out_no_encoder")
    with pytest.raises(CheckpointError, match="InteractHead"):
        load_model(path, config=_sage_config(cfg), interact_head=True)


@pytest.mark.parametrize("prefix", ["", "module."])
def test_full_sage_model_with_encoder(sage_parts, load_fixture, tmp_path, prefix):
    sd, io, head = sage_parts
    cfg = sd.config
    full = {**sd.tensors, **{f"encoder.{k}": v for k, v in head.tensors.items()}}
    full = {prefix + k: v for k, v in full.items()}
    path = _save(tmp_path / "sage_l_ih.pth", "model_state_dict", full)
    x = _sage_image(cfg, io, load_fixture)
    model = load_model(path, config=_sage_config(cfg), head_mode="batch")
    assert model.head_mode == "batch" and model.config["head"]["mode"] == "batch"
    for key, value in {**head_options(head.config), **head_options(cfg)}.items():
        assert model.config["head"][key] == value, key  # shapes inferred, nhead passed on
    assert model.encoder.layers[0].self_attn.num_heads == cfg["nhead"]
    assert_matches(model(x), io["out_with_encoder"], "full_sage_model", "out_with_encoder")
    if prefix:
        return  # the DataParallel variant only needs to load to the same numbers
    model.head_mode = "single"
    assert_matches(model(x), io["out_with_encoder_single"], "full_sage_model", "out_with_encoder_single")
    one_by_one = torch.cat([model(x[i: i + 1]) for i in range(x.shape[0])])
    assert_matches(one_by_one, io["out_with_encoder_single"], "full_sage_model", "out_with_encoder_single")
    # The same checkpoint without the head: the encoder weights are dropped on request.
    no_head = load_model(path, config=_sage_config(cfg), interact_head=False)
    assert no_head.encoder is None
    assert_matches(no_head(x), io["out_no_encoder"], "full_sage_model", "out_no_encoder")


def test_full_models_load_from_safetensors_with_their_metadata(sage_parts, load_fixture, fixtures_dir, tmp_path):
    """No ``config=``: ViT heads, trainable blocks and InteractHead heads come from the file's metadata."""
    from safetensors.torch import save_file

    sd, io = load_fixture("full_salad_model_state_dict"), load_fixture("full_salad_model_io")
    cfg = sd.config
    model = load_model(fixtures_dir / "full_salad_model_state_dict.safetensors")
    _check_inferred_backbone(model, cfg["vit"])
    assert model.backbone.num_trainable_blocks == min(cfg["backbone_config"]["num_trainable_blocks"],
                                                      cfg["vit"]["depth"])
    assert_matches(model(load_fixture("images")[cfg["image"]]), io["out"], "full_salad_model", "out")

    sage, sage_io, head = sage_parts
    path = tmp_path / "sage_with_encoder.safetensors"
    save_file({**sage.tensors, **{f"encoder.{k}": v for k, v in head.tensors.items()}}, str(path),
              metadata={"config": sage.metadata["config"]})
    model = load_model(path, head_mode="batch")
    assert model.encoder.layers[0].self_attn.num_heads == sage.config["nhead"]
    assert model.backbone.model.num_heads == sage.config["vit"]["num_heads"]
    x = _sage_image(sage.config, sage_io, load_fixture)
    assert_matches(model(x), sage_io["out_with_encoder"], "full_sage_model", "out_with_encoder")
