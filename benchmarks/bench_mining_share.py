"""Mining time as a share of a training step (CPU), side by side in one run.

Mining per step = the time a sampler needs to build one global batch (``epoch_batches`` divided by
the batches it returns), on real GSV-Cities coordinates (the GSV-XS dataframes: cities, places;
clusters = places) with random unit descriptors of the model's width. A training step = forward +
backward + AdamW of the MS-loss step on ``places x 4`` images at 224 px (``step_loss``, the code the
trainer runs), for a tiny ViT + SALAD and for DINOv2 ViT-S/14 + SALAD (last 4 blocks trained).

The descriptor refresh of an online sampler (SAGE: one image per cluster, every epoch) is reported
separately, amortised over the steps of an epoch, from the measured per-image forward time.

    python benchmarks/bench_mining_share.py --gsv-xs ../shared/data/gsv_xs_dataframes
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def step_time(arch: str, places: int, k: int, size: int, repeats: int) -> tuple[float, float, int]:
    """(seconds per training step, seconds per image forward in eval mode, descriptor dim)."""
    from geovpr.models.factory import load_model
    from geovpr.train.loss import MultiSimilarityObjective
    from geovpr.train.module import step_loss

    torch.manual_seed(0)
    model = load_model(arch, image_size=size).train()
    opt = torch.optim.AdamW(model.trainable_parameters(), lr=1e-5)
    obj = MultiSimilarityObjective()
    images = torch.randn(places * k, 3, size, size)
    labels = torch.arange(places).repeat_interleave(k)
    half = places // 2 * k

    def one_step() -> None:
        opt.zero_grad()
        out = step_loss(obj, model(images), labels, [half, places * k - half])
        out.loss.backward()
        opt.step()

    one_step()  # warm-up
    train = median_time(one_step, repeats)
    model.eval()
    with torch.no_grad():
        fwd = median_time(lambda: model(images[:16]), max(1, repeats)) / 16
    return train, fwd, int(model.descriptor_dim)


def mining_time(table, name: str, places: int, dim: int, batches: int, seed: int = 0) -> tuple[float, int]:
    """(seconds per batch, clusters) of a sampler on ``table`` with random unit descriptors."""
    from geovpr.mining.samplers import build_sampler

    cfg = {"places_per_batch": places, "images_per_place": 4, "seed": seed}
    if name == "random":
        sampler = build_sampler("random", table, **cfg, min_img_per_place=4, batches_per_epoch=batches)
        t0 = time.perf_counter()
        out = sampler.epoch_batches(0)
        return (time.perf_counter() - t0) / max(1, len(out)), 0
    extra = {"tau": 25.0} if name == "cliquemining" else {"tau1": 25.0}
    sampler = build_sampler(name, table, **cfg, similar_clusters=15, batches_per_epoch=batches, **extra)
    rows = sampler.descriptor_request(0)
    rng = np.random.default_rng(seed)
    desc = rng.standard_normal((len(rows), dim)).astype(np.float32)
    desc /= np.linalg.norm(desc, axis=1, keepdims=True)
    sampler.set_descriptors(rows, desc)
    t0 = time.perf_counter()
    out = sampler.epoch_batches(0)
    return (time.perf_counter() - t0) / len(out), len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gsv-xs", type=Path, required=True, help="gsv_xs_dataframes folder")
    ap.add_argument("--cities", default="osl,medellin,losangeles,buenosaires", help="GSV-XS cities to mine on")
    ap.add_argument("--places", type=int, default=30, help="places per sub-batch (the step has 2 sub-batches)")
    ap.add_argument("--vits-places", type=int, default=8, help="places per sub-batch for the ViT-S step")
    ap.add_argument("--batches", type=int, default=20, help="batches mined per measurement")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--steps-per-epoch", type=int, default=2000, help="to amortise a per-epoch refresh")
    args = ap.parse_args()
    torch.manual_seed(0)
    from geovpr.data.readers.gsv_cities import read_gsv_xs

    table = read_gsv_xs(args.gsv_xs, args.cities.split(","), min_img_per_place=4)
    print(f"table: {len(table)} images, {table.num_places} places, cities {args.cities}")
    models = [("tiny_vit_salad", 2 * args.places), ("dinov2_vits14_salad", 2 * args.vits_places)]
    print(f"{'model':22s} {'imgs':>5s} {'step s':>8s} {'sampler':>13s} {'mine s/step':>11s} {'share':>7s}"
          f" {'refresh s/step':>14s} {'share+refresh':>13s}")
    for arch, n_places in models:
        train_s, fwd_s, dim = step_time(arch, n_places, 4, 224, args.repeats)
        for name in ("random", "cliquemining", "sage"):
            mine_s, clusters = mining_time(table, name, args.places, dim, args.batches)
            refresh_s = clusters * fwd_s / args.steps_per_epoch if name == "sage" else 0.0
            share = mine_s / (train_s + mine_s)
            share_r = (mine_s + refresh_s) / (train_s + mine_s + refresh_s)
            print(f"{arch:22s} {n_places * 4:5d} {train_s:8.3f} {name:>13s} {mine_s:11.4f} {100 * share:6.2f}%"
                  f" {refresh_s:14.4f} {100 * share_r:12.2f}%")


if __name__ == "__main__":
    main()
