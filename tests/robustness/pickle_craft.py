"""Hand-assembled pickle opcode streams for crafted ``.npy`` ground-truth files.

Only the opcode byte constants of :mod:`pickle` are used; nothing here is ever
unpickled by the tests.
"""
from __future__ import annotations

import pickle as P
import struct
from pathlib import Path

from numpy.lib import format as npy_format

RECONSTRUCT = ("numpy.core.multiarray", "_reconstruct")
OBJECT_STATE = (3, "|", None, None, None, -1, -1, 63)  # what numpy writes for dtype('O')
INT64_STATE = (3, "<", None, None, None, -1, -1, 0)


def glob(module: str, name: str) -> bytes:
    return P.GLOBAL + f"{module}\n{name}\n".encode()


def integer(n: int) -> bytes:
    if -(2**31) <= n < 2**31:
        return P.BININT + struct.pack("<i", n)
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return P.LONG1 + bytes([len(raw)]) + raw


def text(s: str) -> bytes:
    raw = s.encode()
    return P.BINUNICODE + struct.pack("<I", len(raw)) + raw


def raw(data: bytes) -> bytes:
    return P.BINBYTES + struct.pack("<I", len(data)) + data


def value(v: object) -> bytes:
    """Opcodes for None, bools, ints, strings, bytes, tuples and lists of them."""
    if v is None:
        return P.NONE
    if v is True or v is False:
        return P.NEWTRUE if v else P.NEWFALSE
    if isinstance(v, int):
        return integer(v)
    if isinstance(v, str):
        return text(v)
    if isinstance(v, bytes):
        return raw(v)
    if isinstance(v, tuple):
        return tup(*(value(x) for x in v))
    if isinstance(v, list):
        return lst(*(value(x) for x in v))
    if isinstance(v, Op):
        return v.code
    raise TypeError(v)


class Op:
    """Already-assembled opcodes to splice into :func:`value`."""

    def __init__(self, code: bytes) -> None:
        self.code = code


def tup(*parts: bytes) -> bytes:
    return P.MARK + b"".join(parts) + P.TUPLE


def lst(*parts: bytes) -> bytes:
    return P.EMPTY_LIST + (P.MARK + b"".join(parts) + P.APPENDS if parts else b"")


def dtype(code: str, state: tuple) -> bytes:
    return glob("numpy", "dtype") + tup(text(code), integer(0), integer(1)) + P.REDUCE + value(state) + P.BUILD


def array(shape: tuple, dtype_ops: bytes, data: bytes, *, reconstruct_shape: tuple = (0,)) -> bytes:
    """``_reconstruct(ndarray, reconstruct_shape, b'b')`` + BUILD ``(1, shape, dtype, False, data)``."""
    head = glob(*RECONSTRUCT) + tup(glob("numpy", "ndarray"), value(reconstruct_shape), raw(b"b")) + P.REDUCE
    return head + tup(integer(1), value(shape), dtype_ops, P.NEWFALSE, data) + P.BUILD


def object_array(shape: tuple, items: list) -> bytes:
    return array(shape, dtype("O8", OBJECT_STATE), value(items))


def int64_array(values: list[int]) -> bytes:
    data = b"".join(struct.pack("<q", v) for v in values)
    return array((len(values),), dtype("i8", INT64_STATE), raw(data))


def stream(body: bytes) -> bytes:
    return P.PROTO + bytes([2]) + body + P.STOP


def write_npy(path: Path, payload: bytes, shape: tuple, descr: object = "|O") -> Path:
    """A ``.npy`` file with a v1.0 header (``descr``, ``shape``) and ``payload`` as its body."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        npy_format.write_array_header_1_0(fh, {"descr": descr, "fortran_order": False, "shape": shape})
        fh.write(payload)
    return path
