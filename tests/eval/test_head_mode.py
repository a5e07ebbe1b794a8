"""`geovpr eval --head-mode`: refused for models without an InteractHead; batch mode uses SAGE's sizes."""
from __future__ import annotations

import argparse
import logging

import pytest

from geovpr import cli
from geovpr.commands.eval import _default_batch_size


def test_head_mode_needs_an_interact_head(tmp_path, caplog: pytest.LogCaptureFixture, shared_data) -> None:
    logging.getLogger("geovpr").propagate = True
    with caplog.at_level(logging.ERROR, logger="geovpr"):
        rc = cli.main(["eval", "--data", str(shared_data / "vprbench_corridor"), "--model", "pixels",
                       "--head-mode", "batch", "--no-progress"])
    assert rc == 2
    assert "has no InteractHead" in caplog.text


@pytest.mark.parametrize(("protocol", "expected"), [("sped", 2), ("nordland_2760", 26), ("msls_val", 16), (None, 8)])
def test_batch_mode_uses_reference_batch_sizes(protocol: str | None, expected: int) -> None:
    args = argparse.Namespace(head_mode="batch", protocol=protocol)
    assert _default_batch_size(args) == expected
    assert _default_batch_size(argparse.Namespace(head_mode="single", protocol=protocol)) == 32
