"""Bad checkpoint files: one line saying what the file really is, never a traceback or a wrong warning."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
import torch

from geovpr.cli import main
from geovpr.errors import CheckpointError
from geovpr.models.checkpoint import save_model
from geovpr.models.factory import load_model


@pytest.mark.parametrize(
    "content, message",
    [
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 1234\n",
         "is a Git LFS pointer, not the weights; fetch them with `git lfs pull`"),
        (b"\n<!DOCTYPE html><html><body>404</body></html>", "is an HTML/XML page, not a checkpoint"),
        (b"\x13\x37" + bytes(range(200)), "not a PyTorch or safetensors checkpoint (unknown file type"),
        (b"", "the checkpoint file is empty"),
        (b"\x80\x02garbage that is not a pickle", "corrupt pickle data"),
    ],
)
def test_non_checkpoint_files_say_what_they_are(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "model.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="") as info:
        load_model(path)
    assert message in str(info.value) and "arbitrary code" not in str(info.value)


def test_lfs_pointer_on_the_command_line_is_one_line(tmp_path: Path, caplog) -> None:
    (tmp_path / "m.pth").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:1\nsize 9\n")
    logging.getLogger("geovpr").propagate = True
    with caplog.at_level(logging.INFO, logger="geovpr"):
        rc = main(["index", "build", "--model", str(tmp_path / "m.pth"), "--images", str(tmp_path),
                   "--out", str(tmp_path / "i")])
    assert rc == 2 and "Git LFS pointer" in caplog.text and "Traceback" not in caplog.text


def test_int_keys_are_refused(tmp_path: Path) -> None:
    torch.save({1: torch.zeros(2), "aggregator.p": torch.ones(1)}, tmp_path / "w.pth")
    with pytest.raises(CheckpointError, match=r"state dict keys must be parameter names \(strings\), found 1"):
        load_model(tmp_path / "w.pth")


def _tiny_state_dict() -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in load_model("tiny_vit_salad").state_dict().items()}


def test_one_dimensional_pos_embed_is_refused(tmp_path: Path) -> None:
    sd = _tiny_state_dict()
    sd["backbone.model.pos_embed"] = sd["backbone.model.pos_embed"].reshape(-1)
    torch.save(sd, tmp_path / "w.pth")
    with pytest.raises(CheckpointError, match=r"pos_embed has shape \[\d+\] \(expected \[1, tokens, dim\]\)"):
        load_model(tmp_path / "w.pth")


def test_aggregator_tensor_of_the_wrong_rank_is_refused(tmp_path: Path) -> None:
    sd = _tiny_state_dict()
    sd["aggregator.score.0.weight"] = sd["aggregator.score.0.weight"].reshape(-1)
    torch.save(sd, tmp_path / "w.pth")
    with pytest.raises(CheckpointError, match="cannot infer the architecture: a tensor has an unexpected shape"):
        load_model(tmp_path / "w.pth")


@pytest.fixture
def own(tmp_path: Path) -> Path:
    return save_model(load_model("tiny_vit_gem"), tmp_path / "own")


def _edit(folder: Path, change) -> None:
    doc = json.loads((folder / "config.json").read_text())
    change(doc)
    (folder / "config.json").write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(format_version="2"), "format_version must be an integer 1 .. 1 (this geovpr), got '2'"),
        (lambda d: d.update(format_version=2), "format_version must be an integer 1 .. 1"),
        (lambda d: d["model"]["backbone"].update(embed_dim="big"), "model.backbone.embed_dim must be an integer"),
        (lambda d: d["model"]["backbone"].update(embed_dim=1e9), "model.backbone.embed_dim must be a finite number"),
        (lambda d: d["model"]["backbone"].update(depth=10**9), "model.backbone.depth must be a finite number"),
        (lambda d: d.update(preprocess={"size": [56000, 56000], "mode": "rgb"}),
         "preprocess.size must be two integers in 1 .. 8192, got [56000, 56000]"),
        (lambda d: d.update(preprocess={"size": [32, 32], "mode": "cmyk"}), "preprocess.mode must be 'rgb' or 'gray'"),
        (lambda d: d.update(extra=1), "has unknown key(s) ['extra']"),
        (lambda d: d.update(model=[1]), "model must be a JSON object"),
    ],
)
def test_config_json_schema(own: Path, change, message: str) -> None:
    _edit(own, change)
    with pytest.raises(CheckpointError) as info:
        load_model(own)
    assert "config.json" in str(info.value) and message in str(info.value)


def test_valid_own_checkpoint_still_loads(own: Path) -> None:
    assert load_model(own).fingerprint() == json.loads((own / "config.json").read_text())["fingerprint"]
