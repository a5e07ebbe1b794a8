"""SAGE online graph: rebuild (new cluster descriptors) + one epoch of sampling on GSV-XS (38k places).

For each ``gws_level`` ("image", "place"): time of ``descriptor_request`` +
``set_descriptors`` (the rebuild: representative pick, descriptor bank, norms)
and of ``epoch_batches`` (per-draw geo-visual subgraphs + GWS), and the peak
memory allocated during them (tracemalloc: numpy allocations are traced), with
the process peak RSS.  CliqueMining on the same data is timed side by side.
Goals: < 60 s and < 4 GB.

    python benchmarks/bench_sage_graph.py --data ../shared/data/gsv_xs_dataframes
"""
from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np

from geovpr.mining.samplers import cliquemining_sampler, sage_sampler

try:
    from bench_cliquemining import load
except ImportError:
    from benchmarks.bench_cliquemining import load


def run(sampler, desc_of_row, epoch: int, traced: bool) -> tuple[float, float, float, float]:
    """(rebuild s, epoch s, traced peak GiB or nan, CPU s of rebuild + epoch) for one refresh + one epoch."""
    if traced:
        tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    rows = sampler.descriptor_request(epoch)
    sampler.set_descriptors(rows, desc_of_row(rows))
    t_rebuild = time.perf_counter() - t0
    t0 = time.perf_counter()
    batches = sampler.epoch_batches(epoch)
    t_epoch = time.perf_counter() - t0
    cpu = time.process_time() - c0
    peak = float("nan")
    if traced:
        peak = tracemalloc.get_traced_memory()[1] / 2**30
        tracemalloc.stop()
    assert len(batches) == sampler.batches_per_epoch
    return t_rebuild, t_epoch, peak, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/gsv_xs_dataframes")
    ap.add_argument("--batches", type=int, default=2000)
    ap.add_argument("--dim", type=int, default=8448)
    ap.add_argument("--mem-batches", type=int, default=100)
    ap.add_argument("--blas-threads", type=int, default=None)
    args = ap.parse_args()
    utm, city, cluster = load(args.data)
    names = np.unique(city.astype(str))
    city_idx = np.searchsorted(names, city.astype(str))
    n_per_city = np.array([cluster[city_idx == c].max() + 1 for c in range(len(names))])
    offsets = np.concatenate(([0], np.cumsum(n_per_city)))
    gidx = offsets[city_idx] + cluster
    rng = np.random.default_rng(0)
    desc = rng.standard_normal((offsets[-1], args.dim), dtype=np.float32)
    desc /= np.linalg.norm(desc, axis=1, keepdims=True)
    print(f"data: {len(utm)} images, {offsets[-1]} places, {len(names)} cities; descriptors {desc.shape} "
          f"({desc.nbytes / 2**30:.2f} GiB, not counted below)")

    def desc_of_row(rows):
        return desc[gidx[rows]]

    results = {}
    for label, make in (
        ("sage/image", lambda n: sage_sampler(utm, city, cluster, batches_per_epoch=n, gws_level="image",
                                              blas_threads=args.blas_threads)),
        ("sage/place", lambda n: sage_sampler(utm, city, cluster, batches_per_epoch=n, gws_level="place",
                                              blas_threads=args.blas_threads)),
        ("cliquemining", lambda n: cliquemining_sampler(utm, city, cluster, batches_per_epoch=n,
                                                        blas_threads=args.blas_threads)),
    ):
        t0 = time.perf_counter()
        sampler = make(args.batches)
        t_init = time.perf_counter() - t0
        t_rebuild, t_epoch, _, cpu = run(sampler, desc_of_row, 0, traced=False)
        stats = dict(sampler.stats)
        del sampler
        # memory: tracemalloc (slows Python down, so separate) over a rebuild + a shorter epoch
        _, _, peak, _ = run(make(args.mem_batches), desc_of_row, 0, traced=True)
        results[label] = (t_init, t_rebuild, t_epoch, peak, cpu)
        print(f"{label:13s} init {t_init:5.2f} s | rebuild {t_rebuild:5.2f} s | epoch of {args.batches} batches "
              f"{t_epoch:6.2f} s | rebuild+epoch {t_rebuild + t_epoch:6.2f} s wall, {cpu:6.2f} s CPU | peak traced (rebuild + "
              f"{args.mem_batches} batches) {peak:.2f} GiB | {stats}")
    base = results["cliquemining"][1] + results["cliquemining"][2]
    for label in ("sage/image", "sage/place"):
        t = results[label][1] + results[label][2]
        print(f"RATIO {label} (rebuild+epoch) / cliquemining = {t / base:.2f}x wall, "
              f"{results[label][4] / results['cliquemining'][4]:.2f}x CPU; goal < 60 s: {t < 60} (wall), "
              f"{results[label][4] < 60} (CPU); "
              f"goal < 4 GB: {results[label][3] < 4}")
    print(f"process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB "
          f"(includes the {desc.nbytes / 2**30:.2f} GiB input descriptors)")


if __name__ == "__main__":
    main()
