"""geovpr.checks: one-line errors naming the key; no coercion of strings; booleans are not numbers."""
from __future__ import annotations

import pytest

from geovpr import checks
from geovpr.errors import ConfigError


def test_integer_number_boolean_text():
    assert checks.integer("k", 4.0) == 4 and isinstance(checks.integer("k", 4.0), int)
    assert checks.number("x", 3) == 3.0 and checks.boolean("b", False) is False
    assert checks.text("t", "a", choices=("a", "b")) == "a"
    for call, message in [
        (lambda: checks.integer("train.epochs", "many"), "train.epochs must be an integer, got 'many'"),
        (lambda: checks.integer("seed", True), "seed must be an integer, got True"),
        (lambda: checks.integer("train.devices", 0, low=1), "train.devices must be >= 1, got 0"),
        (lambda: checks.number("train.lr", "abc"), "train.lr must be a finite number, got 'abc'"),
        (lambda: checks.number("train.lr", float("nan")), "train.lr must be a finite number, got nan"),
        (lambda: checks.number("train.lr", 0, low=0, low_open=True), "train.lr must be > 0, got 0.0"),
        (lambda: checks.number("p", 1.5, high=1), "p must be <= 1, got 1.5"),
        (lambda: checks.boolean("train.tensorboard", "yes"), "train.tensorboard must be true or false, got 'yes'"),
        (lambda: checks.text("t", "c", choices=("a", "b")), r"t must be one of \['a', 'b'\], got 'c'"),
    ]:
        with pytest.raises(ConfigError, match=message):
            call()
