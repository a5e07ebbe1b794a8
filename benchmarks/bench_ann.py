"""Exact chunked search vs faiss ANN (HNSW, IVF-PQ) on a synthetic clustered database.

Measures, side by side in one run: build time, search time, the exact/ANN
time ratio, and how often the ANN top-1 equals the exact top-1 ("R@1 agree")
and the overlap of the top-10 sets ("R@10 agree"), with the exact re-ranking
that :class:`geovpr.index.Index` applies to ANN candidates (and without it).

Data: ``--n`` database vectors drawn around ``--clusters`` Gaussian centres
(like descriptors of many places), L2-normalised; queries are database vectors
plus noise of norm ``--query-noise`` (a revisit of a known place), re-normalised. Example::

    python benchmarks/bench_ann.py --n 100000 --dim 512 --queries 1000
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from geovpr.index import ann as ann_mod
from geovpr.knn import exact_knn, rerank


def make_data(n: int, dim: int, clusters: int, queries: int, seed: int, noise: float
              ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    db = centres[rng.integers(0, clusters, n)] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32)
    db /= np.linalg.norm(db, axis=1, keepdims=True)
    step = noise / np.sqrt(dim) * rng.normal(size=(queries, dim)).astype(np.float32)
    q = db[rng.choice(n, queries, replace=False)] + step
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return db.astype(np.float32), q.astype(np.float32)


def agreement(found: np.ndarray, exact: np.ndarray, k: int) -> tuple[float, float]:
    r1 = float((found[:, 0] == exact[:, 0]).mean())
    rk = float(np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(found, exact)]))
    return r1, rk


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--clusters", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--query-noise", type=float, default=0.5,
                    help="norm of the noise added to a (unit) database vector to make a query")
    ap.add_argument("--threads", type=int, default=2, help="torch and faiss threads")
    args = ap.parse_args()
    import faiss

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    db, q = make_data(args.n, args.dim, args.clusters, args.queries, args.seed,
                      args.query_noise)
    k = args.k
    print(f"database {args.n} x {args.dim} float32 ({db.nbytes / 2**20:.0f} MiB), {args.queries} queries, k={k}, "
          f"{args.threads} threads")

    t0 = time.perf_counter()
    _, exact = exact_knn([db], q, k)
    t_exact = time.perf_counter() - t0
    flat = faiss.IndexFlatL2(args.dim)
    flat.add(db)
    t0 = time.perf_counter()
    _, flat_i = flat.search(q, k)
    t_flat = time.perf_counter() - t0
    print(f"{'method':<28}{'build s':>9}{'search s':>10}{'exact/this':>12}{'R@1 agree':>11}{'R@10 agree':>12}")
    print(f"{'exact (geovpr, chunked)':<28}{0.0:>9.2f}{t_exact:>10.3f}{1.0:>12.2f}{1.0:>11.3f}{1.0:>12.3f}")
    r1, rk = agreement(flat_i, exact, k)
    print(f"{'faiss IndexFlatL2':<28}{0.0:>9.2f}{t_flat:>10.3f}{t_exact / t_flat:>12.2f}{r1:>11.3f}{rk:>12.3f}")

    n_cand = max(4 * k, 32)
    for kind in ann_mod.ANN_KINDS:
        t0 = time.perf_counter()
        train = ann_mod.training_sample([db], len(db)) if kind == "ivfpq" else None
        index = ann_mod.new_ann(kind, args.dim, train)
        ann_mod.add_blocks(index, [db])
        t_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        raw = ann_mod.ann_candidates(index, q, k)
        t_raw = time.perf_counter() - t0
        r1, rk = agreement(raw, exact, k)
        print(f"{kind + ' (raw)':<28}{t_build:>9.2f}{t_raw:>10.3f}{t_exact / t_raw:>12.2f}{r1:>11.3f}{rk:>12.3f}")
        t0 = time.perf_counter()
        cand = ann_mod.ann_candidates(index, q, n_cand)
        _, found = rerank([db], q, cand, k)
        t_rr = time.perf_counter() - t0
        r1, rk = agreement(found, exact, k)
        label = f"{kind} + rerank {n_cand}"
        print(f"{label:<28}{'':>9}{t_rr:>10.3f}{t_exact / t_rr:>12.2f}{r1:>11.3f}{rk:>12.3f}")


if __name__ == "__main__":
    main()
