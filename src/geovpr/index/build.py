"""Encode images into one index segment, in resumable chunks.

The images of a ``build`` or ``add`` are split into chunks of ``chunk_size``.
Each encoded chunk is saved at once (``<segment>.staging/chunk-XXXXX.npz``)
together with the paths, sizes and modification times of its images; a
``job.json`` records the model fingerprint and the chunk size. An interrupted
(or failed) run leaves the staging folder; the next run reuses a saved chunk
only if it holds exactly the same, unchanged files (and, under
``on_bad_image="error"``, skipped none) and encodes the rest. A staging
folder of another model is refused with a message naming the folder. Only
when every chunk exists are they merged (streamed through a memory map, so
memory stays bounded) into the segment folder.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from geovpr.atomic import atomic_write
from geovpr.errors import DataError
from geovpr.index.store import read_json, write_json_atomic
from geovpr.models.encode import extract_descriptors

log = logging.getLogger(__name__)

ExtractFn = Callable[..., Any]


def extract_chunk(model: Any, paths: Sequence[str], *, batch_size: int, device: str, on_bad_image: str,
                  **encode: Any) -> Any:
    """Descriptors of one chunk (see :func:`geovpr.models.encode.extract_descriptors`; ``encode``:
    its ``num_workers``/``autocast_dtype``)."""
    return extract_descriptors(
        model, list(paths), batch_size=batch_size, device=device, on_bad_image=on_bad_image, progress=False, **encode
    )


def _job(fingerprint: str, chunk_size: int) -> dict[str, Any]:
    return {"fingerprint": fingerprint, "chunk_size": chunk_size}


def _open_staging(staging: Path, job: dict[str, Any]) -> None:
    """Create the staging folder, or check that an existing one was made by the same model."""
    job_file = staging / "job.json"
    if staging.is_dir() and job_file.is_file():
        old = read_json(job_file)
        if old.get("fingerprint") != job["fingerprint"]:
            raise DataError(
                f"{staging} holds an interrupted run with another model (fingerprint {old.get('fingerprint')}); "
                f"rerun it with that model to resume, or delete {staging} to start over"
            )
        if old == job:
            return
        log.info("chunk size changed: discarding the chunks saved in %s", staging)
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    write_json_atomic(job_file, job)


def file_stamps(paths: Sequence[str]) -> np.ndarray:
    """``[n, 2]`` int64 (size, mtime_ns) of each file; ``-1`` for a file that cannot be stat'ed."""
    out = np.full((len(paths), 2), -1, dtype=np.int64)
    for i, p in enumerate(paths):
        try:
            st = os.stat(p)
            out[i] = (st.st_size, st.st_mtime_ns)
        except OSError:
            pass
    return out


def _save_chunk(path: Path, result: Any, images: Sequence[str], stamps: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, descriptors=np.asarray(result.descriptors, dtype=np.float32),
                     kept=np.asarray(result.kept, bool), skipped=np.asarray(list(result.skipped), dtype=str),
                     images=np.asarray(list(images), dtype=str), stamps=stamps)

    atomic_write(path, write)


def _load_chunk(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["descriptors"], z["kept"], [str(s) for s in z["skipped"]]
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: saved chunk is corrupt ({exc}); delete {path.parent} to start over") from None


def _reusable(path: Path, images: Sequence[str], stamps: np.ndarray, on_bad_image: str) -> bool:
    """A saved chunk is reused only for the same unchanged files (and no skips under "error")."""
    if not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as z:
            same = [str(x) for x in z["images"]] == list(images) and np.array_equal(z["stamps"], stamps)
            return same and (on_bad_image != "error" or len(z["skipped"]) == 0)
    except (OSError, ValueError, KeyError):
        return False


def build_segment(
    folder: Path,
    name: str,
    model: Any,
    paths: Sequence[str],
    coords: np.ndarray,
    *,
    fingerprint: str,
    chunk_size: int = 1024,
    batch_size: int = 32,
    device: str = "cpu",
    on_bad_image: str = "error",
    progress: bool = True,
    extract: ExtractFn | None = None,
    encode: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Encode ``paths`` into segment ``folder/name``; returns ``{"name", "count", "skipped"}``.

    ``coords`` float64 [len(paths), 2] (NaN = missing) are stored for the kept
    images. Raises :class:`DataError` when no image could be read. ``extract``
    defaults to :func:`extract_chunk`.
    """
    extract = extract or extract_chunk
    folder = Path(folder)
    staging = folder / f"{name}.staging"
    _open_staging(staging, _job(fingerprint, chunk_size))
    starts = list(range(0, len(paths), chunk_size))
    stamps = file_stamps(paths)
    chunk_files = [staging / f"chunk-{s // chunk_size:05d}.npz" for s in starts]
    done = [s for s, f in zip(starts, chunk_files)
            if _reusable(f, paths[s:s + chunk_size], stamps[s:s + chunk_size], on_bad_image)]
    done_set = set(done)
    if done:
        log.info("resuming: %d of %d chunk(s) already encoded in %s", len(done), len(starts), staging)
    # disable=None: tqdm turns itself off when stderr is not a terminal
    bar = tqdm(total=len(paths), desc="index", unit="img", disable=None if progress else True,
               initial=sum(min(chunk_size, len(paths) - s) for s in done))
    try:
        for s, chunk_file in zip(starts, chunk_files):
            if s in done_set:
                continue
            part = paths[s:s + chunk_size]
            result = extract(model, part, batch_size=batch_size, device=device, on_bad_image=on_bad_image,
                             **(encode or {}))
            _save_chunk(chunk_file, result, part, stamps[s:s + chunk_size])
            bar.update(len(part))
    finally:
        bar.close()
    info = _merge(folder, name, staging, paths, coords, len(starts), int(getattr(model, "descriptor_dim", 0) or 0))
    shutil.rmtree(staging)
    return info


def _merge(folder: Path, name: str, staging: Path, paths: Sequence[str], coords: np.ndarray,
           n_chunks: int, model_dim: int) -> dict[str, Any]:
    """Stream the chunk files into ``name.tmp`` and rename it to ``name``."""
    kept_all: list[np.ndarray] = []
    skipped: list[str] = []
    dim = 0
    for c in range(n_chunks):
        d, kept, sk = _load_chunk(staging / f"chunk-{c:05d}.npz")
        kept_all.append(kept)
        skipped += sk
        if d.shape[0]:
            dim = d.shape[1]
    kept = np.concatenate(kept_all) if kept_all else np.zeros(0, dtype=bool)
    n = int(kept.sum())
    if n == 0:
        raise DataError(f"none of the {len(paths)} image(s) could be read ({len(skipped)} skipped); nothing to index")
    dim = dim or model_dim
    tmp = folder / f"{name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    out = np.lib.format.open_memmap(tmp / "descriptors.npy", mode="w+", dtype=np.float32, shape=(n, dim))
    row = 0
    for c in range(n_chunks):
        d, _, _ = _load_chunk(staging / f"chunk-{c:05d}.npz")
        out[row:row + len(d)] = d
        row += len(d)
    out.flush()
    del out
    np.save(tmp / "coords.npy", np.asarray(coords, dtype=np.float64).reshape(-1, 2)[kept], allow_pickle=False)
    write_json_atomic(tmp / "images.json", [p for p, k in zip(paths, kept) if k])
    final = folder / name
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    return {"name": name, "count": n, "skipped": skipped}
