"""Atomic file writes, one way everywhere: temporary file in the same folder, fsync, rename, fsync of the folder.

A crash (even SIGKILL) at any moment leaves either the old file or the new
one, never a torn one; a stale ``.<name>.<pid>-<thread>.tmp`` may remain and
is overwritten by the next write of the same process and thread.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Callable


def _replace(src: str, dst: str) -> None:
    """``os.replace`` (a separate function so tests can interrupt a write right before the rename)."""
    os.replace(src, dst)


def _fsync_path(path: Path, flags: int = os.O_RDONLY) -> None:
    try:
        fd = os.open(path, flags)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write(path: os.PathLike | str, write: Callable[[Path], None]) -> Path:
    """Let ``write(tmp)`` create the file at a temporary path, then publish it at ``path`` atomically.

    The folder is created if needed; the temporary file and the folder are
    fsynced around the rename.  If ``write`` raises, the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        write(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_path(tmp)
    _replace(str(tmp), str(path))
    _fsync_path(path.parent)
    return path


def atomic_write_bytes(path: os.PathLike | str, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: os.PathLike | str, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: os.PathLike | str, data: Any, **dumps: Any) -> Path:
    """Write ``json.dumps(data, **dumps)`` to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(data, **dumps))
