"""geovpr.registry: names, aliases, case folding, the error listing valid names."""
from __future__ import annotations

import pytest

from geovpr.errors import ConfigError
from geovpr.registry import Registry


def test_names_aliases_and_errors():
    reg: Registry[int] = Registry("thing", fold_case=True)
    reg.add("alpha", 1, aliases=("a",))
    reg.add("beta", 2)
    assert reg.get("A") == 1 and reg.canonical("ALPHA") == "alpha" and reg.names() == ["alpha", "beta"]
    assert "a" in reg and "gamma" not in reg
    with pytest.raises(ConfigError, match=r"unknown thing 'gamma'; expected one of \['a', 'alpha', 'beta'\]"):
        reg.get("gamma")
    assert reg.add("beta", 2) == 2  # the same entry again is a no-op
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("b2", 3, aliases=("a",))
    strict: Registry[int] = Registry("format")
    strict.add("npy", 1)
    with pytest.raises(ConfigError):
        strict.get("NPY")
