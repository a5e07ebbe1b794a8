"""``geovpr gds``: geographic distance sensitivity analysis (our own GDS design, see geovpr.eval.gds).

Examples::

    geovpr gds --data city/eval --model runs/sage/model --out gds/sage
    geovpr gds --data city/eval --descriptors desc.npz --out gds/sage

A descriptor file is an ``.npz`` with float arrays ``database`` ``[Nd, D]`` and
``queries`` ``[Nq, D]`` (rows in the evaluation set's file order), and optional
``database_utm``/``queries_utm`` ``[N, 2]`` (then ``--data`` may be left out).
``--save-descriptors`` writes exactly that file from a model.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from geovpr.atomic import atomic_write_text
from geovpr.commands._common import (add_encoder_options, apply_encoder_options, check_weight_options, encode_options,
                                     load_cli_model, validate_encoder_options)
from geovpr.errors import ConfigError, DataError
from geovpr.eval.gds import gds_inputs
from geovpr.models.encode import describe_eval_set

log = logging.getLogger(__name__)

DB_KEYS = ("database", "db", "db_descriptors")
Q_KEYS = ("queries", "query", "query_descriptors")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "gds", help="geographic distance sensitivity of a model or descriptor file (our own GDS design)",
        description="Descriptor vs geographic distance, pairwise mis-ordering and top-k ordering "
                    "(geovpr's own GDS definition; the SAGE paper's equation is not public).",
    )
    p.add_argument("--data", default=None, help="evaluation set with coordinates (@-named database/ + queries/, ...)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="built-in name or checkpoint path")
    src.add_argument("--descriptors", help=".npz with 'database' and 'queries' descriptors (+ optional *_utm)")
    add_encoder_options(p)
    p.add_argument("--out", required=True, help="output folder: gds.json, gds.png (and descriptors.npz)")
    p.add_argument("--name", default=None, help="label of the model in the plot (default: model/file name)")
    p.add_argument("--format", choices=("folder", "npy", "vprbench"), default=None)
    p.add_argument("--protocol", default=None)
    p.add_argument("--on-bad-image", choices=("error", "skip"), default="error")
    p.add_argument("--max-distance", type=float, default=100.0, help="curve range in metres")
    p.add_argument("--bin-size", type=float, default=5.0, help="curve bin width in metres")
    p.add_argument("--slope-range", type=float, default=25.0, help="slope fitted over pairs closer than this")
    p.add_argument("--radius", type=float, default=25.0, help="mis-ordering: database images within this radius")
    p.add_argument("--gap-bin", type=float, default=2.5, help="mis-ordering: distance-gap bin width in metres")
    p.add_argument("-k", "--top-k", type=int, default=10, help="top-k ordering error and Kendall tau")
    p.add_argument("--save-descriptors", action="store_true", help="also write descriptors.npz (with --model)")
    p.set_defaults(func=run)


def model_descriptors(model: Any, eval_set: Any, *, batch_size: int = 32, device: str = "cpu",
                      on_bad_image: str = "error", progress: bool = True, **encode: Any) -> dict[str, np.ndarray]:
    """Descriptors and coordinates of an evaluation set's kept images (skipped ones dropped)."""
    if eval_set.db_utm is None or eval_set.query_utm is None:  # before any image is encoded
        raise DataError(f"{eval_set.source or eval_set.name}: GDS needs image coordinates; this set has none")
    described = describe_eval_set(model, eval_set, batch_size=batch_size, device=device, on_bad_image=on_bad_image,
                                  progress=progress, **encode)
    return gds_inputs(eval_set, described)


def _pick(arrays: Any, keys: tuple[str, ...], path: Path) -> np.ndarray:
    for k in keys:
        if k in arrays:
            return _numeric(arrays[k], k, path)
    raise DataError(f"{path}: no array named one of {list(keys)}; found {list(arrays.keys())}")


def _numeric(array: np.ndarray, key: str, path: Path, columns: int | None = None) -> np.ndarray:
    """``array`` as float (2-D, numbers only), or a DataError naming the file and array."""
    if array.dtype.kind not in "fiu" or array.ndim != 2 or (columns is not None and array.shape[1] != columns):
        want = f"[N, {columns}]" if columns else "[N, D]"
        raise DataError(f"{path}: array {key!r} is {array.dtype} of shape {array.shape}, expected numbers {want}")
    return np.asarray(array, dtype=np.float32 if columns is None else np.float64)


def check_finite(arrays: dict[str, np.ndarray], source: str) -> None:
    """Every descriptor and coordinate row finite, non-empty sets, equal descriptor widths."""
    for key, array in arrays.items():
        if len(array) == 0:
            raise DataError(f"{source}: {key} is empty")
        bad = ~np.isfinite(array).all(axis=1)
        if bad.any():
            raise DataError(f"{source}: {key} row {int(np.flatnonzero(bad)[0])} is not finite (NaN or infinity)")
    if arrays["database"].shape[1] != arrays["queries"].shape[1]:
        raise DataError(f"{source}: database descriptors are {arrays['database'].shape[1]}-D, queries "
                        f"{arrays['queries'].shape[1]}-D")


def load_descriptor_file(path: str | Path, eval_set: Any | None) -> dict[str, np.ndarray]:
    """Read a descriptor ``.npz``; coordinates from the file or else from ``eval_set``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: descriptor file not found")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, KeyError, AttributeError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    out = {"database": _pick(arrays, DB_KEYS, path), "queries": _pick(arrays, Q_KEYS, path)}
    if "database_utm" in arrays and "queries_utm" in arrays:
        out["database_utm"] = _numeric(arrays["database_utm"], "database_utm", path, columns=2)
        out["queries_utm"] = _numeric(arrays["queries_utm"], "queries_utm", path, columns=2)
    elif eval_set is None:
        raise ConfigError(f"{path} has no database_utm/queries_utm arrays: pass --data with the evaluation set")
    elif eval_set.db_utm is None or eval_set.query_utm is None:
        raise DataError(f"{eval_set.source or eval_set.name}: GDS needs image coordinates; this set has none")
    else:
        out["database_utm"], out["queries_utm"] = np.asarray(eval_set.db_utm), np.asarray(eval_set.query_utm)
    for part in ("database", "queries"):
        if len(out[part]) != len(out[f"{part}_utm"]):
            raise DataError(f"{path}: {len(out[part])} {part} descriptors but {len(out[part + '_utm'])} coordinates "
                            "(rows must follow the evaluation set's file order)")
    return out


def summary_table(summaries: dict[str, dict[str, Any]]) -> str:
    """Markdown table of GDS summary scalars, one row per model."""
    keys = list(next(iter(summaries.values())))
    lines = ["| model | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for name, s in summaries.items():
        lines.append(f"| {name} | " + " | ".join("n/a" if s[k] is None else f"{s[k]:.4f}" for k in keys) + " |")
    return "\n".join(lines)


def validate(args: argparse.Namespace) -> None:
    """Every option of ``geovpr gds``, checked before any work (exit 2 with one line)."""
    from geovpr.commands import _validate as v

    v.device(args.device)
    v.at_least(args.batch_size, 1, "--batch-size")
    validate_encoder_options(args)
    for flag in ("max_distance", "bin_size", "slope_range", "radius", "gap_bin"):
        v.positive(getattr(args, flag), "--" + flag.replace("_", "-"))
    if args.bin_size > args.max_distance:
        raise ConfigError(f"--bin-size {args.bin_size} is larger than --max-distance {args.max_distance}")
    v.at_least(args.top_k, 1, "-k/--top-k")
    if args.model and not args.data:
        raise ConfigError("--model needs --data (the images to describe)")


def _plots_available() -> bool:
    """True when matplotlib is installed; else a warning naming the ``plots`` extra (gds.json is still written)."""
    from geovpr._optional import require
    from geovpr.errors import MissingExtraError

    try:
        require("matplotlib", "the GDS plot (gds.png)")
    except MissingExtraError as exc:
        log.warning("gds.png not written: %s", exc)
        return False
    return True


def run(args: argparse.Namespace) -> int:
    from geovpr.eval.gds import gds_report
    from geovpr.eval.visualize import plot_gds
    from geovpr.provenance import environment_record

    validate(args)
    check_weight_options(args)
    eval_set = None
    if args.data:
        from geovpr.data.readers import load_eval_set

        eval_set = load_eval_set(args.data, format=args.format, protocol=args.protocol)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.model:
        model = apply_encoder_options(load_cli_model(args, args.device), args)
        arrays = model_descriptors(model, eval_set, on_bad_image=args.on_bad_image, **encode_options(args))
        if args.save_descriptors:
            np.savez(out / "descriptors.npz", **arrays)
        name = args.name or Path(args.model).name
    else:
        arrays = load_descriptor_file(args.descriptors, eval_set)
        name = args.name or Path(args.descriptors).stem
    check_finite(arrays, str(args.descriptors or args.model))
    report = gds_report(arrays["queries"], arrays["database"], arrays["queries_utm"], arrays["database_utm"],
                        max_distance=args.max_distance, bin_size=args.bin_size, slope_range=args.slope_range,
                        radius=args.radius, gap_bin=args.gap_bin, k=args.top_k)
    report["model"] = name
    report["environment"] = environment_record(device=args.device if args.model else None)
    try:
        text = json.dumps(report, indent=2, allow_nan=False)
    except ValueError:
        raise DataError("the GDS report holds a non-finite number (NaN or infinity); nothing was written") from None
    atomic_write_text(out / "gds.json", text + "\n")
    written = "gds.json"
    if _plots_available():
        plot_gds({name: report}, out / "gds.png")
        written += ", gds.png"
    sys.stdout.write(summary_table({name: report["summary"]}) + "\n")
    log.info("GDS written to %s (%s)", out, written)
    return 0
