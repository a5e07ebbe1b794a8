"""Robustness tests (issue 10): each case of the report has a test here.

=====================================================  =========================================
case                                                   test file :: test
=====================================================  =========================================
gt pickle: forged dtype('O') (segfault)                test_ground_truth_pickles :: test_type_confusion_*
gt pickle: 10^13-byte array, uint64 2^64-1             test_ground_truth_pickles :: test_*huge*, *uint64*
gt pickle: wrong structure, memo tricks, truncation    test_ground_truth_pickles :: test_wrong_structures_*,
                                                       test_memo_tricks_*, test_every_truncation_*
two `index add` at once; stale handles                 test_index_writes :: test_two_processes_*, test_two_stale_*
--overwrite vs <out>.old / <out>.partial / symlink     test_index_writes :: test_overwrite_*, test_a_users_partial_*,
                                                       test_symlinked_out_*
index build --out .                                    test_index_writes :: test_out_naming_the_current_folder_*
equator, zone borders, polar latitudes                 test_geometry
mixed UTM zones in @-names                             test_utm_zones
--radius -5/inf/nan (eval, query), devices,   test_options :: test_bad_option_is_one_line_*
num-workers, gds bins/k, query --out X.html/png
empty / string / NaN GDS descriptor files              test_options :: test_bad_descriptor_files_*
16-bit images                                          test_deep_images
symlinked sub-folders, FIFOs, devices                  test_folders_and_special_files
manifest schema, int8 descriptors, paths, NaN JSON     test_tampered_index
LFS pointer / HTML / int keys / 1-D pos_embed /        test_checkpoints
config.json schema
YAML alias bomb, recipe name outside runs/             test_recipes, test_options
files written 0600                                     test_index_writes :: test_written_files_follow_*
=====================================================  =========================================

Helpers beside this file (``pickle_craft.py``) are importable by name.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Callable

import pytest

from geovpr.cli import main

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


@pytest.fixture
def cli(caplog: pytest.LogCaptureFixture) -> Callable[..., tuple[int, str]]:
    """``cli(*args) -> (exit code, log text of that call)`` running ``geovpr`` in-process."""

    def run(*args: object) -> tuple[int, str]:
        logging.getLogger("geovpr").propagate = True
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="geovpr"):
            rc = main([str(a) for a in args])
        return rc, caplog.text

    return run
