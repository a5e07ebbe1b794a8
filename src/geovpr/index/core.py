"""``Index``: descriptors + coordinates of a database on disk, and queries against it.

>>> import geovpr
>>> model = geovpr.load_model("pixels")
>>> index = geovpr.Index.build(model, "photos/db", "my_index", coords="filenames")
>>> results = index.localize(["photos/q/q1.jpg"], k=5)      # matches, estimate, confidence
>>> nn = index.search(model.describe(["photos/q/q1.jpg"]), k=5)  # raw top-k (distances, indices)

An index remembers its model's fingerprint (config + weights) and refuses
descriptors of any other model. ``build`` writes into ``<out>.partial`` and
renames it when done; an interrupted build is resumed by running it again
(only a ``.partial`` folder holding geovpr's marker is ever resumed). Writers
hold ``<out>.lock`` (:mod:`geovpr.index.lock`): a second ``build``/``add`` on
the same index fails at once instead of racing, and ``add`` re-reads the
manifest under the lock, so stale handles never overwrite each other.
See :mod:`geovpr.index.store` for the layout and :mod:`geovpr.index.localize`
for how estimates and confidences are computed.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from geovpr.data.coords import Coordinates, resolve_coords, same_utm_frame
from geovpr.errors import ConfigError, DataError
from geovpr.index import ann as ann_mod
from geovpr.index.build import build_segment
from geovpr.index.lock import index_lock
from geovpr.index.localize import DEFAULT_RADIUS_M, Estimate, confidence, estimate_position
from geovpr.index.store import (
    FORMAT,
    MANIFEST,
    VERSION,
    Segment,
    clean_orphans,
    load_segment,
    partial_dir,
    read_json,
    read_manifest,
    write_json_atomic,
)
from geovpr.knn import exact_knn, rerank
from geovpr.models.encode import extract_descriptors
from geovpr.models.factory import load_model
from geovpr.provenance import environment_record

log = logging.getLogger(__name__)

CONFIDENCE_CANDIDATES = 10


@dataclass
class Neighbors:
    """Top-k of each query: L2 ``distances`` float32 [nq, k] (ascending) and ``indices`` int64 [nq, k]."""

    distances: np.ndarray
    indices: np.ndarray


@dataclass
class QueryResult:
    """One query's ranked matches, position estimate and confidence (see :mod:`geovpr.index.localize`)."""

    query: str
    matches: list[dict[str, Any]] = field(default_factory=list)
    estimate: Estimate | None = None
    confidence: float | None = None
    confidence_basis: str = "none"
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "query": self.query,
            "matches": self.matches,
            "estimate": self.estimate.to_json() if self.estimate else None,
            "confidence": self.confidence,
            "confidence_basis": self.confidence_basis,
        }
        if self.error:
            out["error"] = self.error
        return out


def collect_images(images: str | os.PathLike | Sequence[str | os.PathLike]) -> tuple[list[str], Path | None]:
    """Absolute image paths from a folder (all images under it, sorted) or a list; and the folder."""
    from geovpr.data.images import IMAGE_EXTENSIONS, list_images

    if isinstance(images, (str, os.PathLike)):
        root = Path(images)
        if not root.is_dir():
            raise DataError(f"{root}: image folder not found (expected a directory)")
        paths = [os.path.abspath(p) for p in list_images(root)]
        if not paths:
            raise DataError(f"{root}: no images found (extensions: {', '.join(sorted(IMAGE_EXTENSIONS))})")
        return paths, root.resolve()
    paths = [os.path.abspath(os.fspath(p)) for p in images]
    if not paths:
        raise DataError("no images given")
    return paths, None


def model_record(model: Any, spec: str | os.PathLike | None,
                 options: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the manifest stores about the model (fingerprint, config, how to load it again:
    ``spec`` and the :func:`geovpr.load_model` ``options`` that matter, e.g. ``backbone_weights``)."""
    if spec is not None and os.path.exists(os.fspath(spec)):
        spec = os.path.abspath(os.fspath(spec))
    return {
        "fingerprint": model.fingerprint(),
        "config": model.config,
        "preprocess": model.preprocess.to_dict(),
        "descriptor_dim": int(model.descriptor_dim),
        "spec": None if spec is None else os.fspath(spec),
        "load_options": _load_options(options),
    }


def _load_options(options: dict[str, Any] | None) -> dict[str, Any]:
    """The options worth recording: a weights path made absolute, defaults (None/False) left out."""
    out: dict[str, Any] = {}
    for key, value in (options or {}).items():
        if value is None or value is False:
            continue
        if key in ("backbone_weights", "pretrained") and str(value) != "hub":
            value = os.path.abspath(os.fspath(value))
        out[key] = value
    return out


class Index:
    """A descriptor index on disk (see module doc). Construct with :meth:`build` or :meth:`load`."""

    def __init__(self, folder: Path, manifest: dict[str, Any], model: Any = None) -> None:
        self.folder = Path(folder)
        self.manifest = manifest
        self._model = None
        self._checked: tuple[int, tuple[int, ...]] | None = None
        self._load_data()
        if model is not None:
            self.model = model

    # ------------------------------------------------------------------ construction

    @classmethod
    def build(
        cls,
        model: Any,
        images: str | os.PathLike | Sequence[str | os.PathLike],
        out_dir: str | os.PathLike,
        coords: str | os.PathLike | Coordinates | None = "auto",
        *,
        model_spec: str | os.PathLike | None = None,
        model_options: dict[str, Any] | None = None,
        ann: str | None = None,
        overwrite: bool = False,
        batch_size: int = 32,
        device: str = "cpu",
        on_bad_image: str = "error",
        chunk_size: int = 1024,
        progress: bool = True,
        num_workers: int = 0,
        autocast_dtype: Any = None,
    ) -> "Index":
        """Encode ``images`` (a folder or a list of paths) with ``model`` into a new index ``out_dir``.

        ``coords``: ``"auto"`` (@-file-names when every name is one), ``"filenames"``,
        ``"exif"``, a CSV path, a :class:`Coordinates`, or ``None``. ``ann``: ``None``/
        ``"none"``, ``"hnsw"`` or ``"ivfpq"``. ``on_bad_image``: ``"error"`` or ``"skip"``
        (skipped files are counted in the manifest). ``model_spec`` and ``model_options`` (the
        :func:`geovpr.load_model` options, e.g. ``{"backbone_weights": "hub"}``) are recorded so
        that the index can load its model again. An existing index is replaced only
        with ``overwrite``. Returns the loaded index (with ``model`` attached).
        """
        out = _out_path(out_dir)
        ann = None if ann in (None, "none") else ann
        if ann is not None and ann not in ann_mod.ANN_KINDS:
            raise ConfigError(f"unknown approximate index {ann!r}; expected one of {ann_mod.ANN_KINDS} or 'none'")
        if chunk_size < 1:
            raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
        _check_out_dir(out, overwrite)
        paths, root = collect_images(images)
        if ann == "ivfpq" and len(paths) < ann_mod.MIN_TRAIN_IVFPQ:
            raise ConfigError(f"--ann ivfpq needs at least {ann_mod.MIN_TRAIN_IVFPQ} images to train, got "
                              f"{len(paths)}; use --ann hnsw or exact search for small databases")
        coord = resolve_coords(coords, paths, root)
        record = model_record(model, model_spec, model_options)
        out.parent.mkdir(parents=True, exist_ok=True)
        with index_lock(out):
            _check_out_dir(out, overwrite)  # again: another run may have finished meanwhile
            partial = partial_dir(out)
            _open_partial(partial, record["fingerprint"])
            manifest = _new_manifest(record, coord, environment_record(device=device))
            write_json_atomic(partial / MANIFEST, manifest)
            t0 = time.perf_counter()
            info = build_segment(
                partial, "seg-00000", model, paths, _coord_values(coord),
                fingerprint=record["fingerprint"], chunk_size=chunk_size, batch_size=batch_size,
                device=device, on_bad_image=on_bad_image, progress=progress,
                encode={"num_workers": num_workers, "autocast_dtype": autocast_dtype},
            )
            manifest["segments"] = [{"name": info["name"], "count": info["count"]}]
            manifest["num_images"] = info["count"]
            manifest["skipped"] = info["skipped"]
            manifest["complete"] = True
            if ann:
                manifest["ann"] = _write_ann(partial, ann, manifest, generation=1)
            write_json_atomic(partial / MANIFEST, manifest)
            _swap_into_place(partial, out)
        log.info("indexed %d image(s) into %s in %.1f s (%d skipped)", info["count"], out,
                 time.perf_counter() - t0, len(info["skipped"]))
        index = cls(out, read_manifest(out))
        index._model = index._check_model(model, fingerprint=record["fingerprint"])
        return index

    @classmethod
    def load(cls, folder: str | os.PathLike, model: Any = None) -> "Index":
        """Open an index folder. ``model`` (a model or a spec for :func:`geovpr.load_model`) is
        checked against the index's fingerprint (again whenever its weights change in place);
        without it, the spec stored at build time is loaded when images need describing."""
        folder = Path(folder)
        return cls(folder, read_manifest(folder), model)

    def add(
        self,
        images: str | os.PathLike | Sequence[str | os.PathLike],
        coords: str | os.PathLike | Coordinates | None = "auto",
        *,
        model: Any = None,
        batch_size: int = 32,
        device: str = "cpu",
        on_bad_image: str = "error",
        chunk_size: int = 1024,
        progress: bool = True,
        num_workers: int = 0,
        autocast_dtype: Any = None,
    ) -> int:
        """Append images as a new segment (same model only); returns how many were added.

        The manifest is replaced only once the segment (and the updated ANN
        index) are complete, so an interruption leaves the old index intact;
        running the same ``add`` again resumes it.
        """
        model = self._require_model(model)
        paths, root = collect_images(images)
        coord = resolve_coords(coords, paths, root)
        with index_lock(self.folder):
            self._reload(model)  # another handle or process may have added since this one was loaded
            count = self._add_locked(model, paths, coord, chunk_size=chunk_size, batch_size=batch_size,
                                     device=device, on_bad_image=on_bad_image, progress=progress,
                                     encode={"num_workers": num_workers, "autocast_dtype": autocast_dtype})
        log.info("added %d image(s) to %s; %d in total", count, self.folder, len(self))
        return count

    def _reload(self, model: Any) -> None:
        """Re-read the manifest (under the lock) and check ``model`` again if the index was rebuilt."""
        fingerprint = self.manifest["model"]["fingerprint"]
        self.manifest = read_manifest(self.folder)
        self._load_data()
        if self.manifest["model"]["fingerprint"] != fingerprint:
            self._check_model(model)

    def _add_locked(self, model: Any, paths: list[str], coord: Coordinates, **opts: Any) -> int:
        existing = set(self._images)
        dup = [p for p in paths if p in existing]
        if dup:
            raise DataError(f"{len(dup)} image(s) are already in the index, e.g. {dup[0]}; add only new images")
        manifest = dict(self.manifest)
        _merge_coord_system(manifest, coord, self.folder)
        name = _next_segment_name(manifest)
        info = build_segment(self.folder, name, model, paths, _coord_values(coord),
                             fingerprint=manifest["model"]["fingerprint"], **opts)
        manifest["segments"] = list(manifest["segments"]) + [
            {"name": info["name"], "count": info["count"], "environment": environment_record(device=opts["device"])}]
        manifest["num_images"] = int(manifest["num_images"]) + info["count"]
        manifest["skipped"] = list(manifest.get("skipped", [])) + info["skipped"]
        if manifest.get("ann"):
            gen = int(manifest["ann"]["generation"]) + 1
            manifest["ann"] = _extend_ann(self.folder, manifest, self.manifest["ann"], info["name"], gen)
        write_json_atomic(self.folder / MANIFEST, manifest)
        clean_orphans(self.folder, manifest)
        self.manifest = manifest
        self._load_data()
        if info["skipped"]:
            log.info("%d image(s) skipped", len(info["skipped"]))
        return int(info["count"])

    # ------------------------------------------------------------------ model

    @property
    def model(self) -> Any:
        return self._model

    @model.setter
    def model(self, model: Any) -> None:
        self._model = self._check_model(model)

    def _check_model(self, model: Any, fingerprint: str | None = None) -> Any:
        """The model (loaded if a spec) after checking its fingerprint against the index's."""
        if isinstance(model, (str, os.PathLike)):
            model = load_model(model)
        fp = fingerprint or model.fingerprint()
        want = self.manifest["model"]
        if fp != want["fingerprint"]:
            raise DataError(
                f"{self.folder} was built with another model (fingerprint {want['fingerprint']}, "
                f"config {want['config']}, loaded from {want.get('spec')!r}); this model's fingerprint is {fp} "
                f"(config {model.config}). Descriptors of different models are not comparable: use the same "
                "model or build a new index"
            )
        self._checked = (id(model), _state_versions(model))
        return model

    def _require_model(self, model: Any = None) -> Any:
        if model is not None:
            return self._check_model(model)
        if self._model is not None and self._checked != (id(self._model), _state_versions(self._model)):
            self._check_model(self._model)  # its weights changed in place since it was attached
        if self._model is None:
            spec = self.manifest["model"].get("spec")
            if spec:
                options = self.manifest["model"].get("load_options") or {}
                log.info("loading the index's model from %s %s", spec, options or "")
                self.model = load_model(spec, **options)
                return self._model
            rebuilt = _rebuild_from_config(self.manifest["model"]["config"])
            if rebuilt is None or rebuilt.fingerprint() != self.manifest["model"]["fingerprint"]:
                raise ConfigError(f"{self.folder}: no model given and the index does not record where its model "
                                  "was loaded from; pass the model (model=... / --model)")
            self.model = rebuilt
        return self._model

    # ------------------------------------------------------------------ data

    def _load_data(self) -> None:
        dim = int(self.manifest["model"]["descriptor_dim"])
        self._segments: list[Segment] = [load_segment(self.folder, s["name"], dim) for s in self.manifest["segments"]]
        self._images = [p for s in self._segments for p in s.images]
        values = np.concatenate([s.coords for s in self._segments]) if self._segments else np.zeros((0, 2))
        system = self.manifest.get("coord_system") or "utm"
        self.coords = Coordinates(values, system, self.manifest.get("utm_zone", ""))
        self._metric = self.coords.metric(self.manifest.get("metric_zone")) if self.coords.present.any() else None
        self._ann = None

    def __len__(self) -> int:
        return len(self._images)

    @property
    def images(self) -> list[str]:
        """Database image paths, in index order."""
        return self._images

    @property
    def dim(self) -> int:
        return int(self.manifest["model"]["descriptor_dim"])

    @property
    def has_coords(self) -> bool:
        return self._metric is not None

    def summary(self) -> dict[str, Any]:
        """A JSON-able description (size, model, coordinates, ANN)."""
        return {
            "folder": str(self.folder), "images": len(self), "descriptor_dim": self.dim,
            "model": {k: self.manifest["model"][k] for k in ("fingerprint", "config", "spec")},
            "coord_system": self.manifest.get("coord_system"),
            "with_coords": int(self.coords.present.sum()), "segments": len(self._segments),
            "ann": (self.manifest.get("ann") or {}).get("kind"), "skipped": len(self.manifest.get("skipped", [])),
        }

    # ------------------------------------------------------------------ search

    def describe(self, images: Sequence[Any], *, batch_size: int = 32, device: str = "cpu",
                 on_bad_image: str = "error", progress: bool = False, num_workers: int = 0,
                 autocast_dtype: Any = None) -> Any:
        """Extract query descriptors with the index's model (an ``Extraction``)."""
        model = self._require_model()
        return extract_descriptors(model, list(images), batch_size=batch_size, device=device,
                                   on_bad_image=on_bad_image, progress=progress, num_workers=num_workers,
                                   autocast_dtype=autocast_dtype)

    def search(self, queries: Any, k: int = 10, *, exact: bool | None = None, batch_size: int = 32,
               device: str = "cpu") -> Neighbors:
        """Top-``k`` database images of each query (descriptors [nq, D] or image paths / PIL images).

        Exact chunked search unless the index has an ANN structure and ``exact``
        is not True; ANN candidates are re-ranked with exact distances.
        """
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k}")
        q = np.asarray(queries, dtype=np.float32) if _is_array(queries) else \
            self.describe(queries, batch_size=batch_size, device=device).descriptors
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise DataError(f"query descriptors have shape {q.shape}, the index holds {self.dim}-D descriptors")
        blocks = [s.descriptors for s in self._segments]
        if self.manifest.get("ann") and exact is not True:
            if self._ann is None:
                self._ann = ann_mod.load_ann(self.folder / self.manifest["ann"]["file"])
            n_cand = min(len(self), max(4 * k, 32))
            cand = ann_mod.ann_candidates(self._ann, q, n_cand)
            sq, idx = rerank(blocks, q, cand, min(k, len(self)))
        else:
            sq, idx = exact_knn(blocks, q, k)
        return Neighbors(np.sqrt(sq).astype(np.float32), idx)

    def localize(
        self,
        queries: Sequence[Any],
        k: int = 5,
        *,
        radius: float = DEFAULT_RADIUS_M,
        method: str = "weighted",
        on_bad_image: str = "error",
        exact: bool | None = None,
        batch_size: int = 32,
        device: str = "cpu",
        progress: bool = False,
        num_workers: int = 0,
        autocast_dtype: Any = None,
    ) -> list[QueryResult]:
        """Matches, position estimate and confidence for each query image (one result per query,
        in order; with ``on_bad_image="skip"`` an unreadable query gets an ``error`` and no matches)."""
        names = [os.fspath(q) if isinstance(q, (str, os.PathLike)) else f"<image {i}>" for i, q in enumerate(queries)]
        ext = self.describe(queries, batch_size=batch_size, device=device, on_bad_image=on_bad_image,
                            progress=progress, num_workers=num_workers, autocast_dtype=autocast_dtype)
        nn = self.search(ext.descriptors, max(k, CONFIDENCE_CANDIDATES), exact=exact) if len(ext.descriptors) else None
        results, row = [], 0
        for name, kept in zip(names, ext.kept):
            if not kept:
                results.append(QueryResult(name, error="unreadable image (skipped)"))
                continue
            results.append(self._result(name, nn.distances[row], nn.indices[row], k, radius, method))
            row += 1
        return results

    def _result(self, name: str, dist: np.ndarray, idx: np.ndarray, k: int, radius: float, method: str) -> QueryResult:
        valid = idx >= 0
        dist, idx = dist[valid], idx[valid]
        values = self.coords.values[idx]
        metric = self._metric[idx] if self._metric is not None else None
        matches = [
            {"image": self._images[i], "distance": float(d),
             "coords": [float(v) for v in values[j]] if np.isfinite(values[j]).all() else None}
            for j, (i, d) in enumerate(zip(idx[:k], dist[:k]))
        ]
        est = None
        if metric is not None:
            est = estimate_position(dist[:k], values[:k], metric[:k], self.coords.system, radius=radius, method=method)
        conf, basis = confidence(dist, metric, radius=radius)
        return QueryResult(name, matches, est, conf, basis)


# ---------------------------------------------------------------------- helpers


def _is_array(x: Any) -> bool:
    if isinstance(x, np.ndarray):
        return True
    try:
        import torch

        return isinstance(x, torch.Tensor)
    except ImportError:  # pragma: no cover
        return False


def _coord_values(coord: Coordinates) -> np.ndarray:
    return coord.values


def _new_manifest(record: dict[str, Any], coord: Coordinates, environment: dict[str, Any]) -> dict[str, Any]:
    has = bool(coord.present.any())
    return {
        "format": FORMAT, "version": VERSION, "complete": False,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "environment": environment,
        "model": record,
        "coord_system": coord.system if has else None,
        "utm_zone": coord.zone if has else "",
        "metric_zone": coord.metric_zone() if has else None,
        "segments": [], "num_images": 0, "skipped": [], "ann": None,
    }


def _merge_coord_system(manifest: dict[str, Any], coord: Coordinates, folder: Path) -> None:
    """Check that new coordinates use the index's system (set it if the index had none)."""
    if not coord.present.any():
        return
    system = manifest.get("coord_system")
    if system is None:
        manifest["coord_system"] = coord.system
        manifest["utm_zone"] = coord.zone
        manifest["metric_zone"] = coord.metric_zone()
        return
    if system != coord.system:
        raise DataError(f"{folder} holds {system} coordinates; the new images have {coord.system} coordinates "
                        "(give the same kind of source)")
    if manifest.get("utm_zone") and coord.zone and not same_utm_frame(manifest["utm_zone"], coord.zone):
        raise DataError(f"{folder} holds UTM zone {manifest['utm_zone']}; the new images are in zone {coord.zone}")


PARTIAL_MARKER = ".geovpr-build.json"
PARTIAL_FORMAT = "geovpr-index-partial"


def _out_path(out_dir: str | os.PathLike) -> Path:
    """``out_dir`` normalised; the current folder, one above it, or the root are refused."""
    out = Path(os.path.normpath(os.fspath(out_dir)))
    absolute, cwd = Path(os.path.abspath(out)), Path.cwd()
    if absolute == cwd or absolute in cwd.parents:
        raise ConfigError(f"--out {os.fspath(out_dir)!r} is the current folder or one above it; "
                          "give the name of a new folder for the index")
    return out


def _check_out_dir(out: Path, overwrite: bool) -> None:
    if out.is_symlink():
        raise DataError(f"{out} is a symbolic link; give the folder it points to ({os.path.realpath(out)})")
    if not out.exists():
        return
    if not out.is_dir():
        raise DataError(f"{out} exists and is not a folder")
    if (out / MANIFEST).is_file():
        if not overwrite:
            raise DataError(f"{out} already holds an index; add images with `geovpr index add` "
                            "or replace it with --overwrite")
        return
    if any(out.iterdir()):
        raise DataError(f"{out} exists, is not empty and is not an index; refusing to write into it")


def _open_partial(partial: Path, fingerprint: str) -> None:
    """Create ``<out>.partial`` with our marker, or resume it only if its marker says it is ours."""
    marker = partial / PARTIAL_MARKER
    if partial.is_symlink() or partial.exists():
        ours = partial.is_dir() and not partial.is_symlink() and marker.is_file()
        old = read_json(marker) if ours else None
        if not isinstance(old, dict) or old.get("format") != PARTIAL_FORMAT:
            raise DataError(f"{partial} exists and was not made by `geovpr index build` (no {PARTIAL_MARKER}); "
                            "move it away or delete it")
        if old.get("fingerprint") != fingerprint:
            raise DataError(
                f"{partial} holds an interrupted build with another model (fingerprint {old.get('fingerprint')}); "
                f"rerun that command to resume it or delete {partial} to start over"
            )
        return
    partial.mkdir()
    write_json_atomic(marker, {"format": PARTIAL_FORMAT, "fingerprint": fingerprint, "pid": os.getpid()})


def _swap_into_place(partial: Path, out: Path) -> None:
    """Rename the finished ``partial`` folder to ``out``; an old index goes to a unique name of ours first."""
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.replaced-", dir=out.parent))
        os.rename(out, old)  # onto the empty folder just made for it: no user path is touched
        os.rename(partial, out)
        shutil.rmtree(old)
    else:
        os.rename(partial, out)
    (out / PARTIAL_MARKER).unlink(missing_ok=True)


def _next_segment_name(manifest: dict[str, Any]) -> str:
    """``seg-NNNNN`` one above the highest segment number the manifest names."""
    numbers = [int(s["name"][4:]) for s in manifest["segments"] if re.fullmatch(r"seg-\d{5}", str(s["name"]))]
    return f"seg-{max(numbers, default=-1) + 1:05d}"


def _write_ann(folder: Path, kind: str, manifest: dict[str, Any], generation: int) -> dict[str, Any]:
    dim = int(manifest["model"]["descriptor_dim"])
    segs = [load_segment(folder, s["name"], dim) for s in manifest["segments"]]
    blocks = [s.descriptors for s in segs]
    total = sum(len(b) for b in blocks)
    train = ann_mod.training_sample(blocks, total) if kind == "ivfpq" else None
    index = ann_mod.new_ann(kind, dim, train)
    ann_mod.add_blocks(index, blocks)
    name = f"ann-{generation:05d}.faiss"
    ann_mod.save_ann(index, folder / name)
    return {"kind": kind, "file": name, "generation": generation, "count": total}


def _extend_ann(folder: Path, manifest: dict[str, Any], old: dict[str, Any], seg_name: str, gen: int
                ) -> dict[str, Any]:
    index = ann_mod.load_ann(folder / old["file"])
    seg = load_segment(folder, seg_name, int(manifest["model"]["descriptor_dim"]))
    ann_mod.add_blocks(index, [seg.descriptors])
    name = f"ann-{gen:05d}.faiss"
    ann_mod.save_ann(index, folder / name)
    return {"kind": old["kind"], "file": name, "generation": gen, "count": int(index.ntotal)}


def _state_versions(model: Any) -> tuple[int, ...]:
    """torch's in-place version counters of every parameter and buffer (change when weights change)."""
    return tuple(t._version for t in list(model.parameters()) + list(model.buffers()))


def _rebuild_from_config(config: dict[str, Any]) -> Any:
    """The model rebuilt from its recorded config (only useful for weight-free models such as pixels)."""
    try:
        from geovpr.models.factory import build_model

        return build_model(config)
    except Exception:  # noqa: BLE001 - any failure means "cannot rebuild"; the caller says what to do
        return None
