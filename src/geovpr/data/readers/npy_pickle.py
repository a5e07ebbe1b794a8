"""Numpy object arrays rebuilt from a ``.npy`` pickle stream **without unpickling**.

Ground-truth files (``<p>_gt.npy``, ``ground_truth_new.npy``) are object
arrays, which numpy stores as pickles. Unpickling runs code chosen by the file
(even a "numpy-only" whitelist admits ``numpy.dtype`` + ``BUILD``, enough to
forge an object dtype that reads raw bytes as pointers). So this module never
calls :mod:`pickle`: it walks the opcode stream with :func:`pickletools.genops`
(which only decodes, never executes) and interprets the small subset numpy
writes for the shapes those formats use:

- an object array whose items are ints, floats, strings, lists/tuples of them,
  numpy integer scalars or plain (non-object) numpy arrays;
- the arrays and scalars inside it.

``numpy.dtype`` objects are never taken from the file: a dtype is rebuilt from
a whitelisted type code, and its pickled state must equal the state numpy
itself would write for that type. Array sizes are checked against the bytes
or items actually present before anything is allocated; lists shared through
the memo are copied with an element budget, so a small file cannot expand into
a huge one. Anything else is a :class:`~geovpr.errors.DataError` naming the
file and the stream offset.
"""
from __future__ import annotations

import math
import pickletools
import re
import reprlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from geovpr.errors import DataError

MAX_ITEMS = 20_000_000
"""Most list/tuple elements a ground-truth pickle may expand to (memo sharing included) ..."""
ITEMS_PER_BYTE = 64
"""... and at most ``1e6 + 64 x its size in bytes`` (real files expand by less than 2 items per byte)."""
MAX_DEPTH = 4
"""Most levels of lists/tuples below an object array item."""
MAX_NDIM = 8

_DTYPE_CODES = re.compile(r"(O8|O4|b1|[iu][1248]|f[248]|[US][1-9][0-9]{0,5})")
_RECONSTRUCT = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")}
_SCALAR = {("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxtuple, _REPR.maxlist, _REPR.maxstring, _REPR.maxother = 3, 9, 9, 40, 40
_ENCODE = ("_codecs", "encode")  # how Python 3 writes bytes at protocols 0-2: encode(text, "latin1")
_KNOWN_GLOBALS = _RECONSTRUCT | _SCALAR | {("numpy", "ndarray"), ("numpy", "dtype"), _ENCODE}


class _Malformed(Exception):
    """Internal: the stream is not one of the accepted shapes (turned into a DataError)."""


@dataclass(eq=False)
class _Global:
    module: str
    name: str


@dataclass(eq=False)
class _DtypeSpec:
    """A ``numpy.dtype(code)`` call from the stream; ``dtype`` is ours, set when its state is checked."""

    code: str
    dtype: np.dtype | None = None


@dataclass(eq=False)
class _ArrayBuilder:
    """A ``_reconstruct(ndarray, (0,), b'b')`` placeholder; ``value`` is set by its BUILD."""

    value: np.ndarray | None = None


@dataclass
class _Machine:
    """The pickle stack machine restricted to plain data and numpy arrays."""

    budget: int
    stack: list[Any] = field(default_factory=list)
    marks: list[int] = field(default_factory=list)
    memo: dict[int, Any] = field(default_factory=dict)

    # -- stack helpers -------------------------------------------------
    def pop(self) -> Any:
        if not self.stack or (self.marks and len(self.stack) <= self.marks[-1]):
            raise _Malformed("stack underflow")
        return self.stack.pop()

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise _Malformed("no MARK to pop to")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def top(self) -> Any:
        if not self.stack or (self.marks and len(self.stack) <= self.marks[-1]):
            raise _Malformed("stack underflow")
        return self.stack[-1]

    # -- opcodes ---------------------------------------------------------
    def append(self, items: list[Any]) -> None:
        target = self.top()
        if not isinstance(target, list):
            raise _Malformed(f"APPEND to a {_kind(target)}")
        target.extend(items)

    def put(self, index: int) -> None:
        self.memo[index] = self.top()

    def get(self, index: int) -> None:
        if index not in self.memo:
            raise _Malformed(f"memo entry {index} read before it was written")
        self.stack.append(self.memo[index])

    def global_(self, module: str, name: str) -> None:
        if (module, name) not in _KNOWN_GLOBALS:
            raise _Malformed(f"refusing to load {module}.{name} (ground-truth files hold only numpy arrays)")
        self.stack.append(_Global(module, name))

    def stack_global(self) -> None:
        name, module = self.pop(), self.pop()
        if not isinstance(module, str) or not isinstance(name, str):
            raise _Malformed("STACK_GLOBAL needs two strings")
        self.global_(module, name)

    def reduce(self) -> None:
        args, func = self.pop(), self.pop()
        if not isinstance(func, _Global) or not isinstance(args, tuple):
            raise _Malformed(f"REDUCE of a {_kind(func)}")
        key = (func.module, func.name)
        if key in _RECONSTRUCT:
            self.stack.append(_reconstruct(args))
        elif key == ("numpy", "dtype"):
            self.stack.append(_dtype_call(args))
        elif key in _SCALAR:
            self.stack.append(_scalar(args))
        elif key == _ENCODE:
            self.stack.append(_latin1(args))
        else:
            raise _Malformed(f"calling {func.module}.{func.name}")

    def build(self) -> None:
        state = self.pop()
        target = self.top()
        if isinstance(target, _DtypeSpec):
            _build_dtype(target, state)
        elif isinstance(target, _ArrayBuilder):
            _build_array(target, state, self)
        else:
            raise _Malformed(f"BUILD on a {_kind(target)}")

    # -- item resolution (copies, with a budget) -------------------------
    def resolve(self, obj: Any, depth: int) -> Any:
        """``obj`` as plain Python/numpy data; lists are copied so memo sharing cannot alias or recurse."""
        if isinstance(obj, (bool, int, float, str, bytes, np.generic)) or obj is None:
            return obj
        if isinstance(obj, _ArrayBuilder):
            if obj.value is None:
                raise _Malformed("an array refers to an array that is not finished (itself?)")
            if obj.value.dtype == object:
                raise _Malformed("object arrays nested inside object arrays")
            return obj.value
        if isinstance(obj, (list, tuple)):
            if depth >= MAX_DEPTH:
                raise _Malformed(f"lists nested deeper than {MAX_DEPTH} levels")
            self.budget -= len(obj)
            if self.budget < 0:
                raise _Malformed("too many list elements for the file size (memo expansion?)")
            items = [self.resolve(x, depth + 1) for x in obj]
            return items if isinstance(obj, list) else tuple(items)
        raise _Malformed(f"unexpected {_kind(obj)} inside the array")


def _short(obj: Any) -> str:
    """A bounded repr of file content for messages (depth- and length-limited)."""
    return _REPR.repr(obj)


def _kind(obj: Any) -> str:
    if isinstance(obj, _Global):
        return f"global {obj.module}.{obj.name}"
    return {_DtypeSpec: "dtype", _ArrayBuilder: "array"}.get(type(obj), type(obj).__name__)


def _reconstruct(args: tuple) -> _ArrayBuilder:
    """``_reconstruct(ndarray, (0,), b'b')`` exactly as numpy writes it; nothing is allocated here."""
    if (len(args) != 3 or not isinstance(args[0], _Global) or (args[0].module, args[0].name) != ("numpy", "ndarray")
            or args[1] != (0,) or args[2] not in (b"b", "b")):
        raise _Malformed("_reconstruct with arguments numpy never writes")
    return _ArrayBuilder()


def _dtype_call(args: tuple) -> _DtypeSpec:
    if len(args) != 3 or not isinstance(args[0], str) or args[1:] != (0, 1) or not _DTYPE_CODES.fullmatch(args[0]):
        raise _Malformed(f"dtype{_short(args)} is not a plain numeric, string or object type")
    return _DtypeSpec(args[0])


def _build_dtype(spec: _DtypeSpec, state: Any) -> None:
    """Check the pickled dtype state against the one numpy writes for our own dtype; keep ours."""
    if spec.dtype is not None:
        raise _Malformed("a dtype built twice")
    if not isinstance(state, tuple) or len(state) < 2 or state[1] not in ("<", ">", "|", "="):
        raise _Malformed(f"dtype {spec.code} with a malformed state")
    ours = np.dtype(object) if spec.code.startswith("O") else np.dtype(spec.code)
    if state[1] in "<>" and ours.byteorder != "|":
        ours = ours.newbyteorder(state[1])
    expected = ours.__reduce__()[2]
    if state != expected:
        raise _Malformed(f"dtype {spec.code} with state {_short(state)}, not numpy's {expected!r} (forged flags?)")
    spec.dtype = ours


def _shape(value: Any) -> tuple[int, ...]:
    if not isinstance(value, tuple) or len(value) > MAX_NDIM or not all(type(d) is int and d >= 0 for d in value):
        raise _Malformed(f"array shape {_short(value)} is not a tuple of at most {MAX_NDIM} non-negative ints")
    return tuple(int(d) for d in value)


def _build_array(builder: _ArrayBuilder, state: Any, machine: _Machine) -> None:
    if builder.value is not None:
        raise _Malformed("an array built twice")
    if not isinstance(state, tuple) or len(state) != 5 or state[0] != 1:
        raise _Malformed("array state is not (1, shape, dtype, fortran, data)")
    _, shape_value, spec, fortran, data = state
    shape = _shape(shape_value)
    if not isinstance(spec, _DtypeSpec) or spec.dtype is None:
        raise _Malformed("array dtype is not a checked dtype")
    if fortran not in (0, 1):
        raise _Malformed("array order flag is not a bool")
    count = math.prod(shape)
    order = "F" if fortran else "C"
    if spec.dtype == object:
        builder.value = _object_array(data, shape, count, order, machine)
    else:
        builder.value = _plain_array(data, spec.dtype, shape, count, order)


def _object_array(data: Any, shape: tuple[int, ...], count: int, order: str, machine: _Machine) -> np.ndarray:
    if not isinstance(data, list):
        raise _Malformed(f"object array data is a {_kind(data)}, not a list of items")
    if len(data) != count:
        raise _Malformed(f"object array of shape {shape} with {len(data)} items")
    machine.budget -= count
    if machine.budget < 0:
        raise _Malformed(f"more than {MAX_ITEMS} items")
    flat = np.empty(count, dtype=object)
    for i, item in enumerate(data):
        flat[i] = machine.resolve(item, 0)
    return flat.reshape(shape, order=order)


def _plain_array(data: Any, dtype: np.dtype, shape: tuple[int, ...], count: int, order: str) -> np.ndarray:
    if isinstance(data, str):  # Python 2 pickles store raw bytes as str (latin-1)
        try:
            data = data.encode("latin-1")
        except UnicodeEncodeError:
            raise _Malformed("array data is text, not bytes") from None
    if not isinstance(data, bytes):
        raise _Malformed(f"{dtype} array data is a {_kind(data)}, not bytes")
    if len(data) != count * dtype.itemsize:
        raise _Malformed(f"{dtype} array of shape {shape} needs {count * dtype.itemsize} bytes, {len(data)} given")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order=order).copy()


def _scalar(args: tuple) -> np.generic:
    if len(args) != 2 or not isinstance(args[0], _DtypeSpec) or args[0].dtype is None:
        raise _Malformed("scalar() without a checked dtype")
    dtype, data = args[0].dtype, args[1]
    if dtype == object:
        raise _Malformed("object scalar")
    return _plain_array(data, dtype, (), 1, "C")[()]


def _latin1(args: tuple) -> bytes:
    if len(args) != 2 or not isinstance(args[0], str) or args[1] not in ("latin1", "latin-1"):
        raise _Malformed("_codecs.encode with arguments other than (text, 'latin1')")
    try:
        return args[0].encode("latin-1")
    except UnicodeEncodeError:
        raise _Malformed("_codecs.encode of text outside latin-1") from None


def _push(value_of: Callable[[Any], Any]) -> Callable[[_Machine, Any], None]:
    return lambda m, arg: m.stack.append(value_of(arg))


def _mark(m: _Machine, arg: Any) -> None:
    m.marks.append(len(m.stack))


def _pop_mark(m: _Machine, arg: Any) -> None:
    m.pop_mark()


def _tuple_n(n: int) -> Callable[[_Machine, Any], None]:
    def op(m: _Machine, arg: Any) -> None:
        items = [m.pop() for _ in range(n)][::-1]
        m.stack.append(tuple(items))
    return op


_OPS: dict[str, Callable[[_Machine, Any], None]] = {
    "PROTO": lambda m, arg: None,
    "FRAME": lambda m, arg: None,
    "MARK": _mark,
    "POP": lambda m, arg: m.pop(),
    "POP_MARK": _pop_mark,
    "DUP": lambda m, arg: m.stack.append(m.top()),
    "NONE": _push(lambda a: None),
    "NEWTRUE": _push(lambda a: True),
    "NEWFALSE": _push(lambda a: False),
    **{name: _push(lambda a: a) for name in (
        "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
        "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "STRING", "SHORT_BINSTRING", "BINSTRING",
        "SHORT_BINBYTES", "BINBYTES", "BINBYTES8")},
    "EMPTY_LIST": _push(lambda a: []),
    "EMPTY_TUPLE": _push(lambda a: ()),
    "LIST": lambda m, arg: m.stack.append(m.pop_mark()),
    "TUPLE": lambda m, arg: m.stack.append(tuple(m.pop_mark())),
    "TUPLE1": _tuple_n(1),
    "TUPLE2": _tuple_n(2),
    "TUPLE3": _tuple_n(3),
    "APPEND": lambda m, arg: m.append([m.pop()]),
    "APPENDS": lambda m, arg: m.append(m.pop_mark()),
    "PUT": lambda m, arg: m.put(arg),
    "BINPUT": lambda m, arg: m.put(arg),
    "LONG_BINPUT": lambda m, arg: m.put(arg),
    "MEMOIZE": lambda m, arg: m.put(len(m.memo)),
    "GET": lambda m, arg: m.get(arg),
    "BINGET": lambda m, arg: m.get(arg),
    "LONG_BINGET": lambda m, arg: m.get(arg),
    "GLOBAL": lambda m, arg: m.global_(*_split_global(arg)),
    "STACK_GLOBAL": lambda m, arg: m.stack_global(),
    "REDUCE": lambda m, arg: m.reduce(),
    "BUILD": lambda m, arg: m.build(),
}


def _split_global(arg: str) -> tuple[str, str]:
    module, _, name = arg.partition(" ")
    return module, name


def _run(data: bytes) -> np.ndarray:
    machine = _Machine(budget=min(MAX_ITEMS, 1_000_000 + ITEMS_PER_BYTE * len(data)))
    pos = 0
    try:
        for opcode, arg, pos in pickletools.genops(data):
            if opcode.name == "STOP":
                break
            handler = _OPS.get(opcode.name)
            if handler is None:
                raise _Malformed(f"opcode {opcode.name} is not used by numpy arrays")
            handler(machine, arg)
        else:
            raise _Malformed("stream ends without STOP")
    except _Malformed as exc:
        raise _Malformed(f"at byte {pos}: {exc}") from None
    if len(machine.stack) != 1 or machine.marks:
        raise _Malformed("the stream does not end with exactly one object")
    result = machine.stack[0]
    if not isinstance(result, _ArrayBuilder) or result.value is None:
        raise _Malformed(f"the stream holds a {_kind(result)}, not a numpy array")
    return result.value


def parse_array_pickle(data: bytes, where: str) -> np.ndarray:
    """The numpy array pickled in ``data`` (the payload of an object ``.npy``), or a DataError naming ``where``."""
    try:
        return _run(data)
    except _Malformed as exc:
        raise DataError(f"{where}: not a plain numpy ground-truth array ({exc})") from None
    except (ValueError, EOFError, UnicodeDecodeError, OverflowError, TypeError, RecursionError) as exc:
        # genops: truncated stream, unknown opcode, undecodable text
        raise DataError(f"{where}: corrupt pickle stream ({exc})") from None
