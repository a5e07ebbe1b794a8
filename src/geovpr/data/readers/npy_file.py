"""Loading one ``.npy`` file from an untrusted dataset, with bounded memory.

* Plain arrays (ints, floats, bools, strings) go through numpy's own reader
  with ``allow_pickle=False``, after the header's declared size has been
  checked against the bytes the file really holds (a 50-byte file cannot ask
  for a 10 TB allocation).
* Object arrays (``dtype('O')``, i.e. pickles) are rebuilt by
  :func:`geovpr.data.readers.npy_pickle.parse_array_pickle`, which never
  unpickles.
* Every other kind of file (structured dtypes, unknown versions, a FIFO or a
  device instead of a file, truncation) is a one-line
  :class:`~geovpr.errors.DataError` naming the file.
"""
from __future__ import annotations

import math
import os
import stat
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from geovpr.data.readers.npy_pickle import parse_array_pickle
from geovpr.errors import DataError

MAX_PICKLE_BYTES = 1 << 30
"""Largest object-array ``.npy`` accepted (1 GiB; real ground-truth files are a few MB at most)."""
_PLAIN_KINDS = frozenset("biufUS")


def _open_regular(path: Path):  # noqa: ANN202 - a binary file object
    """Open ``path`` for reading, refusing FIFOs, devices and sockets before any read can block."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot open ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DataError(f"{path}: not a regular file")
    return os.fdopen(fd, "rb")


def _read_header(fh, path: Path) -> tuple[tuple[int, ...], bool, np.dtype]:  # noqa: ANN001
    version = npy_format.read_magic(fh)
    if version == (1, 0):
        return npy_format.read_array_header_1_0(fh)
    if version == (2, 0):
        return npy_format.read_array_header_2_0(fh)
    raise DataError(f"{path}: .npy format version {version[0]}.{version[1]} is not supported (1.0 or 2.0)")


def _load_plain(fh, path: Path, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:  # noqa: ANN001
    if dtype.kind not in _PLAIN_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise DataError(f"{path}: unsupported array type {dtype} (expected plain numbers or strings)")
    needed = math.prod(shape) * dtype.itemsize
    available = os.fstat(fh.fileno()).st_size - fh.tell()
    if needed > available:
        raise DataError(f"{path}: header declares shape {shape} ({needed} bytes) but the file holds {available}")
    fh.seek(0)
    return npy_format.read_array(fh, allow_pickle=False)


def _load_object(fh, path: Path, shape: tuple[int, ...]) -> np.ndarray:  # noqa: ANN001
    size = os.fstat(fh.fileno()).st_size
    if size > MAX_PICKLE_BYTES:
        raise DataError(f"{path}: {size} bytes is too large for a ground-truth object array")
    array = parse_array_pickle(fh.read(), str(path))
    if array.shape != shape:
        raise DataError(f"{path}: payload is an array of shape {array.shape}, the header declares {shape}")
    return array


def load_npy(path: str | os.PathLike) -> np.ndarray:
    """Load a ``.npy`` file from an untrusted source (see the module notes)."""
    path = Path(path)
    with _open_regular(path) as fh:
        try:
            shape, _, dtype = _read_header(fh, path)
            if dtype == np.dtype(object):
                return _load_object(fh, path, tuple(shape))
            if dtype.hasobject:
                raise DataError(f"{path}: structured arrays holding objects are not supported")
            return _load_plain(fh, path, tuple(shape), dtype)
        except (ValueError, EOFError, OSError, OverflowError, TypeError, MemoryError) as exc:
            raise DataError(f"{path}: not a readable .npy file ({type(exc).__name__}: {exc})") from None
