"""One writer per index: an advisory lock file beside the index folder.

``build``, ``add`` and ``--overwrite`` hold ``<index>.lock`` (an exclusive
``fcntl.flock``) from before they read the manifest until after they have
written it. A second writer fails at once with "in use by pid N" instead of
waiting or racing. Readers (``query``, ``info``) take no lock: the manifest is
replaced atomically and only names complete segments.

Stale locks: the kernel releases a ``flock`` when its holder exits, however it
exits, so a lock file left behind by a killed run is simply taken over; the
file's content (the holder's pid) is only informative. The file itself is
kept (deleting it would let two processes lock two different files). A file
at that path that is not a geovpr lock is never overwritten. ``flock`` is
reliable on local file systems; on some network file systems it is not.
"""
from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from geovpr.errors import DataError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

TAG = b"geovpr index lock"


def lock_path(folder: str | os.PathLike) -> Path:
    """``<folder>.lock`` beside the real index folder (symlinks resolved, so every path to it shares one lock)."""
    folder = Path(os.path.realpath(folder))
    return folder.with_name(folder.name + ".lock")


def _holder(fd: int) -> str:
    text = os.pread(fd, 200, 0).decode("utf-8", "replace")
    pid = text.rsplit("pid", 1)[-1].strip() if text.startswith(TAG.decode()) else ""
    return f"pid {pid}" if pid.isdigit() else "another geovpr process"


@contextmanager
def index_lock(folder: str | os.PathLike) -> Iterator[None]:
    """Hold the write lock of the index ``folder`` (see the module notes); DataError if it is taken."""
    path = lock_path(folder)
    if fcntl is None:  # pragma: no cover
        yield
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as exc:
        raise DataError(f"{path}: cannot open the index lock ({exc.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DataError(f"{path} exists and is not a lock file; move it away")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataError(f"{Path(folder)} is in use by {_holder(fd)} (lock {path}); "
                            "wait until that run has finished") from None
        if os.fstat(fd).st_size and not os.pread(fd, len(TAG), 0) == TAG:
            raise DataError(f"{path} exists and is not a geovpr lock file; move it away")
        os.ftruncate(fd, 0)
        os.pwrite(fd, TAG + f" pid {os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)
