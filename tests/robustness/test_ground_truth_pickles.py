"""Crafted ground-truth ``.npy`` pickles: never unpickled, never a crash, always one clear error."""
from __future__ import annotations

import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pickle_craft as C
from geovpr.data.readers.npy_file import load_npy
from geovpr.data.readers.npy_lists import as_index_array
from geovpr.data.readers.vprbench import parse_ground_truth
from geovpr.errors import DataError

SRC = Path(__file__).resolve().parents[2] / "src"


def _gt(tmp_path: Path, body: bytes, shape: tuple, name: str = "ground_truth_new.npy") -> Path:
    return C.write_npy(tmp_path / name, C.stream(body), shape)


def _vprbench_rows(rows: list) -> list:
    """Flat items of an [N, 2] object array: query index, ref list, ..."""
    return [x for q, refs in rows for x in (q, refs)]


def test_handmade_stream_is_read_like_numpy(tmp_path: Path) -> None:
    """The crafting helper itself is right: a well-formed file gives the expected rows."""
    rows = [(0, [0, 1]), (2, C.Op(C.int64_array([2, 3, 4]))), (1, [1])]
    path = _gt(tmp_path, C.object_array((3, 2), _vprbench_rows(rows)), (3, 2))
    gt = load_npy(path)
    assert gt.shape == (3, 2) and gt.dtype == object
    assert [p.tolist() for p in parse_ground_truth(gt, 4, 5, "x")] == [[0, 1], [1], [2, 3, 4], []]


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4])
def test_numpy_written_pickles_of_every_protocol_load_identically(tmp_path: Path, protocol: int) -> None:
    gt = np.empty(4, dtype=object)
    gt[0], gt[1], gt[2], gt[3] = np.array([3, 4]), [np.int64(4), 5], [], np.array([7], dtype=np.uint16)
    path = C.write_npy(tmp_path / "x_gt.npy", pickle.dumps(gt, protocol=protocol), (4,))
    got = load_npy(path)
    assert [np.asarray(x).tolist() for x in got] == [[3, 4], [4, 5], [], [7]]
    assert got[3].dtype == np.uint16 and isinstance(got[1][0], np.int64)


def test_real_vprbench_files_load_identically(shared_data: Path) -> None:
    """Every real ground-truth file gives the same objects as numpy's own (trusted-file) unpickler."""
    files = sorted(shared_data.glob("vprbench*/**/ground_truth_new.npy"))
    if not files:
        pytest.skip("no VPR-Bench ground truth in the shared data")
    for path in files:
        ours, theirs = load_npy(path), np.load(path, allow_pickle=True, encoding="latin1")
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype == object
        for a, b in zip(ours.reshape(-1), theirs.reshape(-1)):
            assert type(a) is type(b) and np.asarray(a).tolist() == np.asarray(b).tolist(), path


# -- type confusion: the reported segfault --------------------------------------------------------

FORGED_FLAGS = (3, "|", None, None, None, -1, -1, 0)  # dtype('O') with LIST_PICKLE etc. cleared
POINTERS = struct.pack("<QQ", 0x4141414141414141, 0x10)


@pytest.mark.parametrize(
    "body, message",
    [
        (C.array((2,), C.dtype("O8", FORGED_FLAGS), C.raw(POINTERS)), "forged flags"),
        (C.array((2,), C.dtype("O8", C.OBJECT_STATE), C.raw(POINTERS)), "object array data is a bytes"),
        (C.array((2,), C.dtype("i8", C.OBJECT_STATE), C.raw(POINTERS)), "dtype i8 with state"),
    ],
)
def test_type_confusion_is_refused(tmp_path: Path, body: bytes, message: str) -> None:
    path = _gt(tmp_path, body, (2,))
    with pytest.raises(DataError, match=rf"ground_truth_new\.npy: .*{message}"):
        load_npy(path)


def test_type_confusion_does_not_crash_the_interpreter(tmp_path: Path) -> None:
    """The file that segfaulted the numpy-only unpickler (exit 139) is a clean error in a fresh process."""
    path = _gt(tmp_path, C.array((2,), C.dtype("O8", FORGED_FLAGS), C.raw(POINTERS)), (2,))
    code = ("import sys\nfrom geovpr.data.readers.npy_file import load_npy\nfrom geovpr.errors import DataError\n"
            f"try:\n    load_npy({str(path)!r})\nexcept DataError as e:\n    print(e); sys.exit(3)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(SRC), "PATH": ""})
    assert proc.returncode == 3, proc.stderr
    assert "forged flags" in proc.stdout and proc.stdout.count("\n") == 1


# -- huge allocations ---------------------------------------------------------------------------


def test_reconstruct_with_a_huge_shape_is_refused(tmp_path: Path) -> None:
    body = C.array((2,), C.dtype("O8", C.OBJECT_STATE), C.value([1, 2]), reconstruct_shape=(10**13,))
    with pytest.raises(DataError, match="_reconstruct with arguments numpy never writes"):
        load_npy(_gt(tmp_path, body, (2,)))


def test_array_state_claiming_10_to_the_13_bytes_is_refused(tmp_path: Path) -> None:
    body = C.array((1_250_000_000_000,), C.dtype("i8", C.INT64_STATE), C.raw(b"\0" * 16))
    inner = C.object_array((1,), [C.Op(body)])
    with pytest.raises(DataError, match=r"needs 10000000000000 bytes, 16 given"):
        load_npy(_gt(tmp_path, inner, (1,)))


def test_object_array_claiming_more_items_than_given_is_refused(tmp_path: Path) -> None:
    body = C.object_array((10**13,), [1, 2])
    with pytest.raises(DataError, match=r"object array of shape \(10000000000000,\) with 2 items"):
        load_npy(_gt(tmp_path, body, (10**13,)))


def test_plain_npy_header_larger_than_the_file_is_refused(tmp_path: Path) -> None:
    path = C.write_npy(tmp_path / "x_gt.npy", b"\0" * 16, (1_250_000_000_000,), descr="<i8")
    with pytest.raises(DataError, match=r"x_gt\.npy: header declares shape \(1250000000000,\) \(10000000000000 bytes\) "
                                        r"but the file holds 16"):
        load_npy(path)


# -- integer overflow ---------------------------------------------------------------------------

U64_MAX = 2**64 - 1


def test_uint64_max_reference_is_an_error_not_a_wrap(tmp_path: Path) -> None:
    u64 = C.array((1,), C.dtype("u8", C.INT64_STATE), C.raw(struct.pack("<Q", U64_MAX)))
    for refs in (C.Op(u64), [U64_MAX], [2**63]):
        gt = load_npy(_gt(tmp_path, C.object_array((1, 2), [0, refs]), (1, 2)))
        with pytest.raises(DataError, match="row 0: expected a list of integer reference indices"):
            parse_ground_truth(gt, 1, 5, "gt")
    gt = load_npy(_gt(tmp_path, C.object_array((1, 2), [U64_MAX, [0]]), (1, 2)))
    with pytest.raises(DataError, match=r"row 0: query index 18446744073709551615 is not an integer in \[0, 1\)"):
        parse_ground_truth(gt, 1, 5, "gt")


def test_index_arrays_refuse_values_outside_int64() -> None:
    assert as_index_array(np.array([U64_MAX], dtype=np.uint64)) is None
    assert as_index_array([2**63]) is None and as_index_array([-(2**63) - 1]) is None
    assert as_index_array([2**63 - 1, -(2**63)]).tolist() == [2**63 - 1, -(2**63)]
    assert as_index_array([[1, 2], [3]]) is None and as_index_array([True]) is None and as_index_array("12") is None


# -- wrong structure ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, shape, message",
    [
        (C.value([0, [1]]), (2,), "holds a list, not a numpy array"),
        (C.value(7), (), "holds a int, not a numpy array"),
        (pickle.EMPTY_DICT, (), "opcode EMPTY_DICT is not used"),
        (C.glob("os", "system") + C.value(("echo pwned",)) + pickle.REDUCE, (), r"refusing to load os\.system"),
        (C.glob("numpy", "ndarray") + C.value((3,)) + pickle.REDUCE, (), "calling numpy.ndarray"),
        (C.glob("numpy", "dtype") + C.value(("V8", 0, 1)) + pickle.REDUCE, (), "is not a plain numeric"),
        (C.array((2,), C.dtype("i8", (3, "<", None, ("a",), None, 8, 8, 16)), C.raw(b"\0" * 16)), (2,), "dtype i8 with state"),
        (C.object_array((2,), [1, 2]), (3,), r"shape \(2,\), the header declares \(3,\)"),
        (C.object_array((1,), [C.Op(C.object_array((1,), [1]))]), (1,), "object arrays nested inside object arrays"),
        (C.object_array((-1,), [1]), (1,), "not a tuple of at most 8 non-negative ints"),
        (C.object_array((1,), [[[[[[1]]]]]]), (1,), "nested deeper than 4 levels"),
        (C.object_array((1,), [1]) + pickle.POP + pickle.POP, (1,), "stack underflow"),
        (C.object_array((1,), [1]) + C.value(2), (1,), "does not end with exactly one object"),
    ],
)
def test_wrong_structures_are_one_line_errors(tmp_path: Path, body: bytes, shape: tuple, message: str) -> None:
    with pytest.raises(DataError, match=rf"ground_truth_new\.npy: .*{message}") as info:
        load_npy(_gt(tmp_path, body, shape))
    assert "\n" not in str(info.value) and len(str(info.value)) < 400


@pytest.mark.parametrize("descr", ["|V8", [("a", "<i8")], [("a", "|O")]])
def test_structured_and_void_headers_are_refused(tmp_path: Path, descr: object) -> None:
    path = C.write_npy(tmp_path / "x_gt.npy", b"\0" * 16, (2,), descr=descr)
    with pytest.raises(DataError, match=r"x_gt\.npy: (unsupported array type|structured arrays)"):
        load_npy(path)


# -- memo tricks --------------------------------------------------------------------------------


def _self_list() -> bytes:
    """A list that contains itself: EMPTY_LIST PUT 0 GET 0 APPEND."""
    return pickle.EMPTY_LIST + pickle.BINPUT + b"\x00" + pickle.BINGET + b"\x00" + pickle.APPEND


def _sharing_bomb(width: int, levels: int) -> bytes:
    """A list of ``width`` references to a list of ``width`` references ... (``width ** levels`` ints)."""
    code = C.value([1] * width) + pickle.BINPUT + b"\x00"
    for level in range(1, levels):
        code += pickle.POP + pickle.EMPTY_LIST + pickle.MARK + (pickle.BINGET + bytes([level - 1])) * width + pickle.APPENDS
        code += pickle.BINPUT + bytes([level])
    return code


def _self_array() -> bytes:
    """An object array whose only item is the array itself, through the memo."""
    head = C.glob(*C.RECONSTRUCT) + C.tup(C.glob("numpy", "ndarray"), C.value((0,)), C.raw(b"b")) + pickle.REDUCE
    head += pickle.BINPUT + b"\x07"
    items = pickle.EMPTY_LIST + pickle.BINGET + b"\x07" + pickle.APPEND
    return head + C.tup(C.integer(1), C.value((1,)), C.dtype("O8", C.OBJECT_STATE), pickle.NEWFALSE, items) + pickle.BUILD


@pytest.mark.parametrize(
    "body, message",
    [
        (C.object_array((1,), [C.Op(pickle.BINGET + b"\x09")]), "memo entry 9 read before it was written"),
        (C.object_array((1,), [C.Op(_self_list())]), "nested deeper than 4 levels"),
        (C.object_array((1,), [C.Op(_sharing_bomb(1000, 4))]), r"too many list elements for the file size \(memo expansion"),
        (_self_array(), "refers to an array that is not finished"),
        (C.object_array((1,), [C.Op(C.value((1,)) + pickle.BINPUT + b"\x00" + pickle.BINGET + b"\x00" + C.value(2)
                                    + pickle.APPEND)]), "APPEND to a tuple"),
        (C.glob("numpy", "dtype") + C.value(("i8", 0, 1)) + pickle.REDUCE + pickle.BINPUT + b"\x00"
         + C.value(C.INT64_STATE) + pickle.BUILD + pickle.POP + pickle.BINGET + b"\x00" + C.value(C.INT64_STATE)
         + pickle.BUILD, "a dtype built twice"),
    ],
)
def test_memo_tricks_are_refused(tmp_path: Path, body: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_npy(_gt(tmp_path, body, (1,)))


def test_legit_memo_sharing_is_kept_as_copies(tmp_path: Path) -> None:
    """CrossSeason-style rows sharing one ref list through the memo read as equal, independent lists."""
    shared = C.value([4, 5]) + pickle.BINPUT + b"\x01"
    body = C.object_array((2, 2), [0, C.Op(shared), 1, C.Op(pickle.BINGET + b"\x01")])
    gt = load_npy(_gt(tmp_path, body, (2, 2)))
    assert gt[0, 1] == gt[1, 1] == [4, 5] and gt[0, 1] is not gt[1, 1]


# -- truncation and random corruption -----------------------------------------------------------


def _valid_payload() -> bytes:
    gt = np.empty((3, 2), dtype=object)
    for r, (q, refs) in enumerate([(0, [0, 1]), (2, np.array([2, 3, 4])), (1, [np.int64(1)])]):
        gt[r, 0], gt[r, 1] = q, refs
    return pickle.dumps(gt, protocol=4)


def test_every_truncation_is_a_clean_error(tmp_path: Path) -> None:
    payload = _valid_payload()
    for cut in range(len(payload)):
        path = C.write_npy(tmp_path / "cut_gt.npy", payload[:cut], (3, 2))
        with pytest.raises(DataError, match=r"cut_gt\.npy: "):
            load_npy(path)


def test_random_byte_corruption_never_escapes_as_another_exception(tmp_path: Path) -> None:
    """1000 single- and multi-byte mutations: each file loads as an array or is a DataError."""
    payload, rng = bytearray(_valid_payload()), np.random.default_rng(0)
    outcomes = {"loaded": 0, "refused": 0}
    for trial in range(1000):
        mutated = bytearray(payload)
        for pos in rng.integers(0, len(payload), size=1 + trial % 3):
            mutated[pos] = int(rng.integers(0, 256))
        path = C.write_npy(tmp_path / "m_gt.npy", bytes(mutated), (3, 2))
        try:
            assert isinstance(load_npy(path), np.ndarray)
            outcomes["loaded"] += 1
        except DataError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0 and outcomes["loaded"] + outcomes["refused"] == 1000
