"""Recipes from untrusted places: YAML alias bombs are refused, recipe names cannot redirect output."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from geovpr.cli import main
from geovpr.safe_yaml import MAX_NODES, BoundedLoader

BOMB = "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
                 + [f"{c}: &{c} [{', '.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]) + "\n"


def test_alias_bomb_is_refused_cheaply() -> None:
    assert len(BOMB.encode()) < 800  # 9^9 = 387 million strings when expanded
    with pytest.raises(yaml.YAMLError, match=f"expands to more than {MAX_NODES} nodes"):
        yaml.load(BOMB, Loader=BoundedLoader)


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(yaml.YAMLError, match="recursive alias"):
        yaml.load("a: &x [1, *x]\n", Loader=BoundedLoader)


def test_ordinary_aliases_still_work() -> None:
    doc = yaml.load("base: &b {lr: 0.001, steps: 3}\nrun: {opt: *b}\n", Loader=BoundedLoader)
    assert doc["run"]["opt"] == {"lr": 0.001, "steps": 3}


def test_print_recipe_of_a_bomb_is_one_line(tmp_path: Path, caplog) -> None:
    (tmp_path / "bomb.yaml").write_text(BOMB)
    logging.getLogger("geovpr").propagate = True
    with caplog.at_level(logging.INFO, logger="geovpr"):
        rc = main(["train", "--recipe", str(tmp_path / "bomb.yaml"), "--print-recipe"])
    assert rc == 2 and "bomb.yaml: invalid YAML" in caplog.text and "alias bomb" in caplog.text
