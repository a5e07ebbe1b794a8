"""CliqueMining batch generation on the real GSV-XS geography: ours vs the faithful reference.

Data: the 17 GSV-XS city dataframes (284k images, 38k places); UTM from the
lat/lon in the filenames via ``geovpr.geo.latlon_to_utm`` (one zone per city);
clusters = places, re-indexed 0..n-1 per city (so the reference's
``max_id + 1`` rows == number of clusters and it has no all-zero rows);
random unit 8448-d descriptors per place (shared by both).

Prints: reference s/batch (over ``--ref-batches``) extrapolated to a
``--batches`` epoch, our full-epoch time in two configurations (1 BLAS
thread; default BLAS threads -- which must give identical batches), the ratios, and distribution checks
(city frequency, places per city draw, distances between places of one draw).

    python benchmarks/bench_cliquemining.py --data ../shared/data/gsv_xs_dataframes
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from geovpr.geo import latlon_to_utm
from geovpr.mining.samplers import cliquemining_sampler

try:
    from reference_cliquemining import reference_batches
except ImportError:  # run as a module from the repo root
    from benchmarks.reference_cliquemining import reference_batches


def load(data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(utm [N,2], city [N], cluster [N] re-indexed per city), rows city-major."""
    utm, city, cluster = [], [], []
    for path in sorted(data.glob("*.csv.gz")):
        df = pd.read_csv(path)
        parts = df["filename"].str.split("@", expand=True)
        xy = latlon_to_utm(parts[5].astype(float).to_numpy(), parts[6].astype(float).to_numpy())
        utm.append(xy)
        city.append(np.full(len(df), path.name.split(".")[0], dtype=object))
        cluster.append(np.unique(df["place_id"].to_numpy(), return_inverse=True)[1])
    return np.concatenate(utm), np.concatenate(city), np.concatenate(cluster).astype(np.int64)


def draws_of(batches: list[list[tuple[str, tuple]]]) -> list[list[tuple[str, tuple]]]:
    """Split each batch into city draws: maximal runs of consecutive places from one city."""
    out = []
    for batch in batches:
        run = [batch[0]]
        for place in batch[1:]:
            if place[0] == run[-1][0]:
                run.append(place)
            else:
                out.append(run)
                run = [place]
        out.append(run)
    return out


def within_draw_distances(draws, xy_of) -> tuple[np.ndarray, np.ndarray]:
    """Per city draw with >= 2 places (one value per draw, so the samples are independent):
    the smallest image-to-image distance between two of its places, and the median distance
    between its place centroids."""
    mins, cents = [], []
    for run in draws:
        if len(run) < 2:
            continue
        pts = [xy_of(city, rows) for city, rows in run]
        allp = np.concatenate(pts)
        owner = np.repeat(np.arange(len(pts)), [len(p) for p in pts])
        d = np.sqrt(((allp[:, None] - allp[None]) ** 2).sum(-1))
        mins.append(d[owner[:, None] != owner[None]].min())
        c = np.stack([p.mean(0) for p in pts])
        dc = np.sqrt(((c[:, None] - c[None]) ** 2).sum(-1))
        cents.append(np.median(dc[np.triu_indices(len(pts), 1)]))
    return np.array(mins), np.array(cents)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/gsv_xs_dataframes")
    ap.add_argument("--batches", type=int, default=2000)
    ap.add_argument("--ref-batches", type=int, default=50)
    ap.add_argument("--dim", type=int, default=8448)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t = time.perf_counter()
    utm, city, cluster = load(args.data)
    names = np.unique(city.astype(str))
    print(f"data: {len(utm)} images, {len(names)} cities; load {time.perf_counter() - t:.1f} s")
    rng = np.random.default_rng(args.seed)
    # compact cluster index, city-major (same order as CityClusters)
    city_idx = np.searchsorted(names, city.astype(str))
    n_per_city = np.array([cluster[city_idx == c].max() + 1 for c in range(len(names))])
    offsets = np.concatenate(([0], np.cumsum(n_per_city)))
    gidx = offsets[city_idx] + cluster
    t = time.perf_counter()
    desc = rng.standard_normal((offsets[-1], args.dim), dtype=np.float32)
    desc /= np.linalg.norm(desc, axis=1, keepdims=True)
    print(f"descriptors: {desc.shape} float32 ({desc.nbytes / 2**30:.2f} GiB), {time.perf_counter() - t:.1f} s")

    # ---------------------------------------------------------------- ours
    t0 = time.perf_counter()
    ours = cliquemining_sampler(utm, city, cluster, batches_per_epoch=args.batches, seed=args.seed)
    t_init = time.perf_counter() - t0
    rows = ours.descriptor_request(0)
    t0 = time.perf_counter()
    ours.set_descriptors(rows, desc[gidx[rows]])
    t_set = time.perf_counter() - t0
    timings, cpu = {}, {}
    configs = {  # the batches must not depend on these (checked below)
        "blas_threads=1": dict(blas_threads=1),
        "blas_threads=default": dict(blas_threads=None),
    }
    first = None
    for label, cfg in configs.items():
        ours.config = replace(ours.config, blas_threads=cfg["blas_threads"])
        t0, c0 = time.perf_counter(), time.process_time()
        batches = ours.epoch_batches(0)
        timings[label], cpu[label] = time.perf_counter() - t0, time.process_time() - c0
        first = batches if first is None else first
        same = all(np.array_equal(a, b) for a, b in zip(first, batches))
        print(f"ours ({label}): epoch of {len(batches)} batches {timings[label]:.2f} s wall, "
              f"{cpu[label]:.2f} s CPU ({1e3 * timings[label] / len(batches):.2f} ms/batch wall); "
              f"distance rows computed {ours.stats['distance_rows']} for {ours.stats['draws']} draws; "
              f"batches identical to the first configuration: {same}")
    print(f"ours: init {t_init:.2f} s, set_descriptors {t_set:.2f} s; stats {ours.stats}")

    # ---------------------------------------------------------------- reference
    city_rows = {n: np.flatnonzero(city_idx == c) for c, n in enumerate(names)}
    ref_xy = {n: utm[r] for n, r in city_rows.items()}
    ref_cl = {n: cluster[r] for n, r in city_rows.items()}
    ref_desc = {n: desc[offsets[c] : offsets[c + 1]] for c, n in enumerate(names)}
    rs = np.random.RandomState(args.seed)
    t0, c0 = time.perf_counter(), time.process_time()
    ref = reference_batches(ref_xy, ref_cl, ref_desc, args.ref_batches, rs)
    t_ref = (time.perf_counter() - t0) / args.ref_batches
    c_ref_epoch = (time.process_time() - c0) / args.ref_batches * args.batches
    t_ref_epoch = t_ref * args.batches
    print(f"reference: {1e3 * t_ref:.1f} ms/batch over {args.ref_batches} batches -> {t_ref_epoch:.1f} s per "
          f"{args.batches}-batch epoch (extrapolated)")
    print(f"reference CPU time per epoch (extrapolated): {c_ref_epoch:.1f} s")
    for label, t in timings.items():
        print(f"RATIO per epoch: reference/ours({label}) = {t_ref_epoch / t:.0f}x wall "
              f"(ours {t:.2f} s, reference {t_ref_epoch:.1f} s); {c_ref_epoch / cpu[label]:.0f}x CPU time "
              f"(ours {cpu[label]:.2f} s, reference {c_ref_epoch:.1f} s)")

    # ---------------------------------------------------------------- distributions
    ours_b = [[(names[city_idx[p[0]]], tuple(p)) for p in b] for b in batches]
    ref_b = [[(c, tuple(city_rows[c][r])) for c, r in b] for b in ref]

    def xy_of(_city, rows):
        return utm[np.array(rows)]

    checks = {}
    for label, bb in (("ours", ours_b), ("reference", ref_b)):
        dr = draws_of(bb)
        sizes = np.array([len(r) for r in dr])
        city_freq = pd.Series([r[0][0] for r in dr]).value_counts(normalize=True).reindex(names, fill_value=0)
        mins, cents = within_draw_distances(dr, xy_of)
        ok_k = all(np.sqrt(((utm[np.array(p)][:, None] - utm[np.array(p)][None]) ** 2).sum(-1)).max() < 25.0
                   for b in bb for _, p in b)
        checks[label] = dict(draws=len(dr), sizes=sizes, city=city_freq, mins=mins, cents=cents)
        print(f"{label}: {len(bb)} batches, {len(dr)} city draws, places/draw mean {sizes.mean():.2f} "
              f"median {np.median(sizes):.0f}; per draw: closest images of two places min {mins.min():.1f} m, "
              f"p5 {np.percentile(mins, 5):.1f} m, median {np.median(mins):.1f} m; median place-centroid distance "
              f"(median over draws) {np.median(cents):.0f} m; every place pairwise < 25 m: {ok_k}")
    o, r = checks["ours"], checks["reference"]
    print("city frequency of draws (ours vs reference):")
    for n in names:
        print(f"  {n:14s} {o['city'][n]:.3f} {r['city'][n]:.3f}")
    tv = 0.5 * np.abs(o["city"] - r["city"]).sum()
    print(f"total variation distance of city frequencies: {tv:.3f}")
    first = [o["sizes"][o["sizes"] > 0], r["sizes"]]
    print(f"places per draw: KS p = {stats.ks_2samp(*first).pvalue:.3f}; "
          f"first-draw sizes mean ours {o['sizes'].mean():.2f} ref {r['sizes'].mean():.2f}")
    print(f"closest images of two places, per draw: KS p = {stats.ks_2samp(o['mins'], r['mins']).pvalue:.3f}")
    print(f"median place-centroid distance, per draw: KS p = {stats.ks_2samp(o['cents'], r['cents']).pvalue:.3f}; "
          f"quantiles (25/50/75) ours {np.percentile(o['cents'], [25, 50, 75]).round(0)} "
          f"ref {np.percentile(r['cents'], [25, 50, 75]).round(0)}")


if __name__ == "__main__":
    main()
