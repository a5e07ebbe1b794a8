"""The run folder of ``geovpr eval``: ``runs/eval/<data>-<model>-<UTC time>/``.

It holds ``result.json``, ``command.txt`` (the command line, shell-quoted),
``log.txt`` (this run's log records) and ``environment.json`` (the
:func:`geovpr.provenance.environment_record`), plus whatever the run was asked
to save (``preds/``, ``descriptors.npz``).
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import re
import shlex
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

DEFAULT_ROOT = Path("runs") / "eval"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def _slug(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("._") or "x"


def model_label(spec: str) -> str:
    """A short name for ``--model``: a built-in name, or a checkpoint's file/folder name without suffix."""
    path = Path(spec)
    if path.name in ("model", "model.safetensors", "config.json") and path.parent.name:
        return _slug(path.parent.name)  # runs/sage/model -> sage
    return _slug(path.stem if path.suffix in (".ckpt", ".pth", ".pt", ".safetensors") else path.name)


def default_run_dir(data_name: str, model_spec: str, *, root: str | os.PathLike | None = None,
                    now: datetime.datetime | None = None) -> Path:
    """``root/<data>-<model>-<YYYYmmdd-HHMMSS>Z`` (root: :data:`DEFAULT_ROOT`); a ``-2``, ``-3`` ...
    suffix if that folder exists."""
    root = DEFAULT_ROOT if root is None else root
    now = now or datetime.datetime.now(datetime.timezone.utc)
    stamp = now.astimezone(datetime.timezone.utc).strftime("%Y%m%d-%H%M%SZ")
    base = Path(root) / f"{_slug(data_name)}-{model_label(model_spec)}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def write_run_files(run_dir: Path, argv: Sequence[str], environment: dict[str, Any]) -> None:
    """``command.txt`` and ``environment.json`` of a run."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "command.txt").write_text(shlex.join(str(a) for a in argv) + "\n", encoding="utf-8")
    (run_dir / "environment.json").write_text(json.dumps(environment, indent=2, allow_nan=False) + "\n",
                                              encoding="utf-8")


@contextmanager
def run_log(path: Path) -> Iterator[None]:
    """Copy the ``geovpr`` log records of this block into ``path`` (same format as the console).

    An exception leaving the block is recorded there too (one ERROR line; the command line
    reports it on the console), so the run folder of a failed run says why it failed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
    logger = logging.getLogger("geovpr")
    handler.setLevel(logging.DEBUG if logger.level == logging.DEBUG else logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    except BaseException as exc:
        record = logging.LogRecord("geovpr", logging.ERROR, __file__, 0, "run failed: %s: %s",
                                   (type(exc).__name__, exc), None)
        handler.handle(record)  # this file only: the console gets the error from the command line
        raise
    finally:
        logger.removeHandler(handler)
        handler.close()
