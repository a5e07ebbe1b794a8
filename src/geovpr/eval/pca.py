"""PCA of descriptors: fitted on a named image set, cached, applied to db and queries.

As in the geo-localization benchmark and SAGE, PCA is fitted on the
descriptors of a separate set (e.g. training images), then applied to both
database and queries; outputs are *not* re-normalised (the references rank
the projected vectors by L2 as they are). No whitening.

The fit is exact (eigen-decomposition in float64 of the covariance or, when
there are fewer samples than dimensions, of the Gram matrix). Components are
sign-normalised (largest-magnitude entry positive) so a refit is identical.

Cache: ``<cache_dir>/pca_<model fingerprint>_<set key>_<dim>.safetensors``
holding ``mean`` and ``components`` plus the keys as metadata. The set key
hashes every image path with its size and modification time, so a changed
model, image set or dimension never reuses a stale file.
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from geovpr.atomic import atomic_write
from geovpr.errors import ConfigError, DataError
from geovpr.models.encode import extract_descriptors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PCA:
    """``transform(x) = (x - mean) @ components.T``; ``components`` is ``[dim, D]``."""

    mean: np.ndarray
    components: np.ndarray

    @property
    def dim(self) -> int:
        return int(self.components.shape[0])

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.shape[-1] != self.mean.shape[0]:
            raise DataError(f"PCA expects {self.mean.shape[0]}-D descriptors, got {x.shape[-1]}-D")
        return ((x - self.mean) @ self.components.T).astype(np.float32)


def fit_pca(descriptors: np.ndarray, dim: int) -> PCA:
    """Exact PCA of ``descriptors`` ``[n, D]`` keeping ``dim`` components."""
    x = torch.as_tensor(np.asarray(descriptors), dtype=torch.float64)
    n, d = x.shape
    if not 1 <= dim <= min(n, d):
        raise ConfigError(f"PCA dimension {dim} must be in [1, min(samples={n}, dims={d})]")
    mean = x.mean(dim=0)
    xc = x - mean
    if n >= d:
        _, vecs = torch.linalg.eigh(xc.T @ xc)
        comps = vecs[:, -dim:].flip(1).T
    else:
        vals, vecs = torch.linalg.eigh(xc @ xc.T)
        top_vals, top_vecs = vals[-dim:].flip(0), vecs[:, -dim:].flip(1)
        comps = (xc.T @ top_vecs / top_vals.clamp_min(1e-12).sqrt()).T
        comps = comps / comps.norm(dim=1, keepdim=True).clamp_min(1e-12)
    pivot = comps.abs().argmax(dim=1)
    signs = torch.sign(comps[torch.arange(dim), pivot])
    comps = comps * torch.where(signs == 0, torch.ones_like(signs), signs).unsqueeze(1)
    return PCA(np.ascontiguousarray(mean.float().numpy()), np.ascontiguousarray(comps.float().numpy()))


def image_set_key(paths: Sequence[str | os.PathLike]) -> str:
    """sha256 (first 16 hex) over each path, its size and modification time."""
    h = hashlib.sha256()
    for p in sorted(os.fspath(p) for p in paths):
        try:
            st = os.stat(p)
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        h.update(f"{p}\0{stamp}\n".encode())
    return h.hexdigest()[:16]


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/geovpr/pca`` (``~/.cache/geovpr/pca``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "geovpr" / "pca"


def save_pca(pca: PCA, path: Path, metadata: dict[str, str]) -> None:
    from safetensors.numpy import save_file

    tensors = {"mean": np.ascontiguousarray(pca.mean), "components": np.ascontiguousarray(pca.components)}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def load_pca(path: Path, expected: dict[str, str]) -> PCA | None:
    """The cached PCA at ``path`` if its metadata equals ``expected``, else ``None``."""
    from safetensors import safe_open

    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            if any(meta.get(k) != v for k, v in expected.items()):
                return None
            return PCA(f.get_tensor("mean"), f.get_tensor("components"))
    except (OSError, ValueError, KeyError) as exc:
        log.warning("ignoring unreadable PCA cache %s (%s)", path, exc)
        return None


def fit_or_load_pca(
    model: Any,
    images: Sequence[str | os.PathLike],
    dim: int,
    *,
    set_name: str,
    cache_dir: str | os.PathLike | None = None,
    **extract_kwargs: Any,
) -> PCA:
    """PCA of ``model``'s descriptors of ``images``, from the cache when it matches exactly."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    keys = {"fingerprint": model.fingerprint(), "set_key": image_set_key(images), "dim": str(dim)}
    path = cache / f"pca_{keys['fingerprint']}_{keys['set_key']}_{dim}.safetensors"
    cached = load_pca(path, keys)
    if cached is not None:
        log.info("PCA-%d loaded from cache %s", dim, path)
        return cached
    log.info("fitting PCA-%d on %d images of %s", dim, len(images), set_name)
    extraction = extract_descriptors(model, list(images), desc=f"PCA {set_name}", **extract_kwargs)
    pca = fit_pca(extraction.descriptors, dim)
    save_pca(pca, path, {**keys, "set_name": set_name, "num_samples": str(len(extraction.descriptors))})
    return pca
