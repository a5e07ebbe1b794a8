"""Optional dependencies: which ``pip install 'geovpr[EXTRA]'`` provides a module.

The core (``eval``, ``index``, ``query``, ``gds``) needs only torch, numpy,
Pillow, scipy, safetensors, tqdm and PyYAML. Training, faiss and the plots are
extras. :func:`require` imports a module or raises
:class:`~geovpr.errors.MissingExtraError` naming the extra;
:func:`missing_extra` turns a :class:`ModuleNotFoundError` raised deep inside a
command into the same one-line message (the command line's safety net).
"""
from __future__ import annotations

import importlib
from types import ModuleType

from geovpr.errors import MissingExtraError

# top-level module name -> the extra that installs it
EXTRAS: dict[str, str] = {
    "pytorch_lightning": "train",
    "lightning_fabric": "train",
    "lightning": "train",
    "pytorch_metric_learning": "train",
    "pandas": "train",
    "threadpoolctl": "train",
    "faiss": "faiss",
    "matplotlib": "plots",
}


def install_hint(extra: str) -> str:
    """The command that installs ``extra``."""
    return f"pip install 'geovpr[{extra}]'"


def _message(module: str, extra: str, purpose: str | None) -> str:
    what = f"{purpose} needs" if purpose else "this needs"
    return f"{what} the optional package {module!r} from the '{extra}' extra: {install_hint(extra)}"


def require(module: str, purpose: str | None = None, extra: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        root = (exc.name or module).split(".")[0]
        chosen = extra or EXTRAS.get(root) or EXTRAS.get(module.split(".")[0])
        if chosen is None:
            raise
        raise MissingExtraError(_message(root, chosen, purpose)) from None


def missing_extra(exc: ModuleNotFoundError, purpose: str | None = None) -> MissingExtraError | None:
    """The :class:`MissingExtraError` for ``exc`` when it is a known optional module, else ``None``."""
    root = (exc.name or "").split(".")[0]
    extra = EXTRAS.get(root)
    return None if extra is None else MissingExtraError(_message(root, extra, purpose))
