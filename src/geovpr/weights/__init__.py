"""Trained weights shipped with the package, loadable by name (``geovpr.load_model("synth_base")``).

Each entry is a folder of this package holding ``model.safetensors`` + ``config.json`` (the format
written by training) plus how it was made (``TRAINING.md``, ``metrics.csv``, ``recipe.yaml``).
"""
from __future__ import annotations

from pathlib import Path

#: name -> folder of this package
SHIPPED: dict[str, str] = {"synth_base": "synth_base"}


def shipped_weights(name: str) -> Path | None:
    """The folder of a shipped model, or None when ``name`` is not one (or its files are missing)."""
    folder = SHIPPED.get(str(name))
    if folder is None:
        return None
    path = Path(__file__).resolve().parent / folder
    return path if (path / "model.safetensors").is_file() and (path / "config.json").is_file() else None


def list_shipped() -> list[str]:
    """Names of the shipped models."""
    return sorted(SHIPPED)
