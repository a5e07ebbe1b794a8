"""Training recipes shipped with the package (``geovpr/recipes/*.yaml``), found by name or path.

``geovpr train --recipe cliquemining_salad`` and ``--recipe path/to/my.yaml``
both work; an existing file always wins over a shipped name.
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from geovpr.errors import ConfigError


def _folder() -> Path:
    return Path(str(resources.files(__name__)))


def list_recipes() -> list[str]:
    """Names of the shipped recipes (file names without ``.yaml``)."""
    return sorted(p.stem for p in _folder().glob("*.yaml"))


def recipe_summary(name: str) -> str:
    """The first comment line of a shipped recipe (what it is)."""
    for line in recipe_path(name).read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip().rstrip(",;:")
    return ""


def recipe_path(spec: str | os.PathLike) -> Path:
    """The recipe file of ``spec``: an existing path, else a shipped recipe name (``.yaml`` optional)."""
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    text = os.fspath(spec)
    name = text[: -len(".yaml")] if text.endswith(".yaml") else text
    if os.sep not in name and "/" not in name and name in list_recipes():
        return _folder() / f"{name}.yaml"
    raise ConfigError(f"recipe {text!r} not found: not a file and not a shipped recipe "
                      f"(shipped: {', '.join(list_recipes())}; geovpr train --list-recipes)")
