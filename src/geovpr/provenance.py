"""How a result was made: :func:`environment_record` for every result file geovpr writes.

The record holds the geovpr version, the git commit of the checkout geovpr runs from (if any),
the versions of the libraries that shape the numbers, the device, torch's thread count and
numerics flags (TF32, deterministic algorithms), the command line and a UTC timestamp.

This module imports nothing from geovpr's subpackages, so any layer may use it. It never imports
torch itself: when torch is not loaded the run did not use it, and the torch fields are ``None``.
"""
from __future__ import annotations

import datetime
import importlib.metadata
import logging
import platform
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from geovpr.version import __version__

log = logging.getLogger(__name__)

# distribution names that provide each library (the first one installed wins)
PACKAGES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "numpy": ("numpy",),
    "faiss": ("faiss-cpu", "faiss-gpu", "faiss", "faiss-gpu-cu12", "faiss-gpu-cu11"),
    "pytorch-metric-learning": ("pytorch-metric-learning",),
    "lightning": ("lightning", "pytorch-lightning"),
}
GIT_TIMEOUT_S = 5.0
_COMMAND_LINE: list[list[str]] = []  # set by :func:`command_line` while a ``geovpr`` command runs


@contextmanager
def command_line(argv: Sequence[str]) -> Iterator[None]:
    """Within this block, records name ``argv`` as the command line (the CLI's own arguments, which
    differ from ``sys.argv`` when ``geovpr.cli.main`` is called in-process)."""
    _COMMAND_LINE.append([str(a) for a in argv])
    try:
        yield
    finally:
        _COMMAND_LINE.pop()


def environment_record(argv: Sequence[str] | None = None, device: Any = None) -> dict[str, Any]:
    """A JSON-able dict describing this process (see the module doc for the keys).

    ``argv`` defaults to the running ``geovpr`` command's arguments (see :func:`command_line`), else
    ``sys.argv``; ``device`` is the torch device the result was computed on
    (``None`` when unknown or not applicable).
    """
    commit, dirty = git_state(Path(__file__).resolve().parent)
    return {
        "geovpr_version": __version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: package_version(*dists) for name, dists in PACKAGES.items()},
        **torch_state(device),
        "argv": [str(a) for a in (_default_argv() if argv is None else argv)],
        "timestamp_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _default_argv() -> list[str]:
    return list(_COMMAND_LINE[-1]) if _COMMAND_LINE else list(sys.argv)


def package_version(*distributions: str) -> str | None:
    """Version of the first installed distribution among ``distributions`` (``None`` if none is)."""
    for dist in distributions:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def git_state(folder: Path) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` when ``folder`` holds files tracked by a git checkout, else ``(None, None)``."""
    marker = folder / "__init__.py"
    if _git(folder, "ls-files", "--error-unmatch", marker.name) is None:  # not a checkout (e.g. site-packages)
        return None, None
    commit = _git(folder, "rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    return commit, None if status is None else bool(status)


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def torch_state(device: Any = None) -> dict[str, Any]:
    """Device, GPU name, thread count and numerics flags (all ``None`` when torch is not loaded)."""
    torch = sys.modules.get("torch")
    out: dict[str, Any] = {"device": None if device is None else str(device), "cuda_available": None,
                           "gpu_name": None, "torch_num_threads": None, "tf32_matmul": None, "tf32_cudnn": None,
                           "deterministic_algorithms": None}
    if torch is None:
        return out
    try:
        cuda = bool(torch.cuda.is_available())
        out.update(
            cuda_available=cuda,
            torch_num_threads=int(torch.get_num_threads()),
            tf32_matmul=bool(torch.backends.cuda.matmul.allow_tf32),
            tf32_cudnn=bool(torch.backends.cudnn.allow_tf32),
            deterministic_algorithms=bool(torch.are_deterministic_algorithms_enabled()),
        )
        if cuda:
            index = _cuda_index(torch, device)
            out["gpu_name"] = str(torch.cuda.get_device_name(index))
    except Exception as exc:  # noqa: BLE001 - a record must never stop the run that writes it
        log.debug("torch state unavailable: %s", exc)
    return out


def _cuda_index(torch: Any, device: Any) -> int:
    if device is not None:
        dev = torch.device(device)
        if dev.type == "cuda" and dev.index is not None:
            return int(dev.index)
    return int(torch.cuda.current_device())
