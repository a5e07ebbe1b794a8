"""What kind of file a checkpoint path holds, from its first bytes — before any parser sees it.

A weights file that is really a Git LFS pointer (the repository was cloned
without ``git lfs pull``), an HTML page (a download link that answered with a
web page), an empty file or random bytes gets a one-line
:class:`~geovpr.errors.CheckpointError` that says so, instead of an unpickling
error that wrongly suggests the file "could run arbitrary code".
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from geovpr.errors import CheckpointError

_LFS = b"version https://git-lfs.github.com/spec/"


def checkpoint_kind(path: str | os.PathLike) -> str:
    """``"zip"`` (torch.save), ``"pickle"`` (legacy torch.save) or ``"safetensors"``; else a CheckpointError."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise CheckpointError(f"{path}: not a regular file")
            head = os.read(fd, 512)
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint file not found: {path}") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror}") from None
    if not head:
        raise CheckpointError(f"{path}: the checkpoint file is empty")
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"\x80") and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle"
    if len(head) > 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") > 1:
        return "safetensors"
    if head.startswith(_LFS):
        raise CheckpointError(f"{path} is a Git LFS pointer, not the weights; fetch them with `git lfs pull`")
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")):
        raise CheckpointError(f"{path} is an HTML/XML page, not a checkpoint (a download that returned a web page?)")
    raise CheckpointError(f"{path}: not a PyTorch or safetensors checkpoint (unknown file type, "
                          f"starts with {head[:16]!r})")
