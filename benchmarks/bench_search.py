"""Exact kNN search: torch matmul+topk vs faiss IndexFlatL2, side by side in one run.

    python benchmarks/bench_search.py                       # 10k x 7k x 8448 and 10k x 1k x 8448
    python benchmarks/bench_search.py --sizes 2000x500x768 --repeats 3

Random unit-norm float32 descriptors; k = 20. Runs are interleaved (torch, faiss,
torch, ...) so both see the same load; prints the median wall time of each
backend, the faiss/torch ratio, and the agreement of the two top-1 results.
Timings on a shared machine are noisy; compare ratios, not seconds.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from geovpr.knn import exact_knn


def _data(n_db: int, n_q: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    db = rng.standard_normal((n_db, dim), dtype=np.float32)
    q = db[rng.integers(0, n_db, n_q)] + 0.5 * rng.standard_normal((n_q, dim), dtype=np.float32)
    db /= np.linalg.norm(db, axis=1, keepdims=True)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return db, q


def _interleaved(fns: dict, repeats: int) -> dict[str, tuple[float, np.ndarray]]:
    """Median time and last result of each function, runs interleaved (fair under changing load)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    results: dict[str, np.ndarray] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            results[name] = fn()[1]
            times[name].append(time.perf_counter() - t)
    return {name: (statistics.median(times[name]), results[name]) for name in fns}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["10000x7000x8448", "10000x1000x8448"], help="DBxQxDIM")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="device of the torch backend")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for both backends (default: as is)")
    args = parser.parse_args()
    if args.threads:
        import faiss

        torch.set_num_threads(args.threads)
        faiss.omp_set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, torch device {args.device}")
    print(f"{'db x q x dim':>20} {'torch s':>9} {'faiss s':>9} {'faiss/torch':>12} {'top-1 agree':>12}")
    for size in args.sizes:
        n_db, n_q, dim = (int(x) for x in size.lower().split("x"))
        db, q = _data(n_db, n_q, dim)
        runs = _interleaved({
            "torch": lambda: exact_knn(db, q, args.k, backend="torch", device=args.device),
            "faiss": lambda: exact_knn(db, q, args.k, backend="faiss"),
        }, args.repeats)
        (t_torch, i_torch), (t_faiss, i_faiss) = runs["torch"], runs["faiss"]
        agree = float(np.mean(i_torch[:, 0] == i_faiss[:, 0]))
        print(f"{size:>20} {t_torch:9.2f} {t_faiss:9.2f} {t_faiss / t_torch:12.2f} {agree:12.4f}")


if __name__ == "__main__":
    main()
