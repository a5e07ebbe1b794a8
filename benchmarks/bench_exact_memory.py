"""Peak memory of exact search over a large memory-mapped database (the index's default path).

Writes ``--n`` x ``--dim`` float32 random descriptors to a temporary ``.npy``
(in chunks, never all in RAM), memory-maps it as :class:`geovpr.index.Index`
does, runs :func:`geovpr.knn.exact_knn` for ``--queries`` queries, and
prints the time and the process's peak resident memory next to the size of
the database file. Example (4 GB file)::

    python benchmarks/bench_exact_memory.py --n 1000000 --dim 1024 --queries 100
"""
from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from geovpr.knn import exact_knn


def anon_rss_mib() -> float:
    """Anonymous resident memory (Linux ``RssAnon``): what the process itself allocated.

    Pages of the memory-mapped file are page cache the kernel may drop at will, so they are
    not counted (they would show in plain RSS).
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


class PeakSampler:
    """Polls :func:`anon_rss_mib` every 20 ms in a thread and keeps the maximum."""

    def __init__(self) -> None:
        self.peak = anon_rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, anon_rss_mib())

    def __enter__(self) -> "PeakSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dir", default=None, help="where to write the temporary database file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "descriptors.npy"
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(args.n, args.dim))
        for s in range(0, args.n, 65536):
            out[s:s + 65536] = rng.standard_normal((min(65536, args.n - s), args.dim), dtype=np.float32)
        rows = np.sort(rng.choice(args.n, args.queries, replace=False))
        queries = np.array(out[rows])
        out.flush()
        del out
        before = anon_rss_mib()
        db = np.load(path, mmap_mode="r")
        t0 = time.perf_counter()
        with PeakSampler() as sampler:
            _, idx = exact_knn([db], queries, args.k)
        elapsed = time.perf_counter() - t0
        size = path.stat().st_size / 2**20
        print(f"database {args.n} x {args.dim} float32 = {size:.0f} MiB on disk (memory-mapped), "
              f"{args.queries} queries, k={args.k}, {args.threads} threads")
        print(f"exact search {elapsed:.1f} s; peak anonymous memory {sampler.peak:.0f} MiB "
              f"(before the search {before:.0f} MiB)")
        print("every query found itself first:", bool((idx[:, 0] == rows).all()))


if __name__ == "__main__":
    main()
