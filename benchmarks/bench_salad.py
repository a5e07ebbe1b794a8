"""SALAD forward+backward: our matmul aggregation vs a repeated-tensor formulation.

The comparison variant builds the per-cluster weighted features as an explicit
``[B, l, m, n]`` tensor (features repeated over clusters × plan repeated over channels,
summed over patches), the way the reference code is written; ours uses one batched matmul.
Each variant runs in its own subprocess so that its peak resident memory (``ru_maxrss``)
is measured alone. Both must give the same descriptor; the script checks that too.

    python benchmarks/bench_salad.py [--batch 120] [--channels 768] [--grid 16] [--iters 3]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F


def expanded_forward(agg, f: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """SALAD with the aggregation written on repeated ``[B, l, m, n]`` tensors."""
    from geovpr.models.aggregators.salad import log_optimal_transport

    feats = agg.cluster_features(f).flatten(2)  # [B, l, n]
    scores = agg.score(f).flatten(2)  # [B, m, n]
    plan = log_optimal_transport(scores, agg.dust_bin)[:, : agg.num_clusters].exp()
    m, l = agg.num_clusters, agg.cluster_dim
    feats_rep = feats.unsqueeze(2).repeat(1, 1, m, 1)  # [B, l, m, n]
    plan_rep = plan.unsqueeze(1).repeat(1, l, 1, 1)  # [B, l, m, n]
    agg_feats = F.normalize((feats_rep * plan_rep).sum(dim=-1), dim=1)  # [B, l, m]
    tok = F.normalize(agg.token_features(t), dim=-1)
    return F.normalize(torch.cat([tok, agg_feats.flatten(1)], dim=-1), dim=-1)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def worker(args: argparse.Namespace) -> None:
    from geovpr.models.aggregators import build_aggregator

    torch.manual_seed(0)
    agg = build_aggregator({"name": "salad", "num_channels": args.channels}).train()
    gen = torch.Generator().manual_seed(1)
    f = torch.randn(args.batch, args.channels, args.grid, args.grid, generator=gen, requires_grad=True)
    t = torch.randn(args.batch, args.channels, generator=gen, requires_grad=True)
    agg.eval()  # dropout off so both variants compute the same function
    forward = (lambda: agg(f, t)) if args.variant == "ours" else (lambda: expanded_forward(agg, f, t))
    setup = rss_mb()
    times = []
    for _ in range(args.iters):
        start = time.perf_counter()
        out = forward()
        out.square().sum().backward()
        times.append(time.perf_counter() - start)
        agg.zero_grad(set_to_none=True)
        f.grad = t.grad = None
    with torch.no_grad():
        check = forward()[:4].tolist()
    print(json.dumps({"variant": args.variant, "median_s": sorted(times)[len(times) // 2], "min_s": min(times),
                      "peak_rss_mb": rss_mb(), "setup_rss_mb": setup, "check": check}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=120)
    parser.add_argument("--channels", type=int, default=768)
    parser.add_argument("--grid", type=int, default=16)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--variant", choices=["ours", "expanded"])
    args = parser.parse_args()
    if args.variant:
        worker(args)
        return
    results = {}
    for variant in ("ours", "expanded"):
        cmd = [sys.executable, __file__, "--variant", variant, "--batch", str(args.batch), "--channels",
               str(args.channels), "--grid", str(args.grid), "--iters", str(args.iters)]
        results[variant] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    diff = max(abs(a - b) for ra, rb in zip(results["ours"]["check"], results["expanded"]["check"])
               for a, b in zip(ra, rb))
    print(f"SALAD forward+backward, batch {args.batch}, {args.grid}x{args.grid} tokens x {args.channels} ch, "
          f"torch threads {torch.get_num_threads()}")
    print(f"{'variant':10s} {'median s':>9s} {'min s':>7s} {'peak RSS MB':>12s} {'above setup MB':>15s}")
    for name, r in results.items():
        print(f"{name:10s} {r['median_s']:9.2f} {r['min_s']:7.2f} {r['peak_rss_mb']:12.0f} "
              f"{r['peak_rss_mb'] - r['setup_rss_mb']:15.0f}")
    o, e = results["ours"], results["expanded"]
    print(f"ratio expanded/ours: time {e['median_s'] / o['median_s']:.2f}x, peak memory above setup "
          f"{(e['peak_rss_mb'] - e['setup_rss_mb']) / max(1.0, o['peak_rss_mb'] - o['setup_rss_mb']):.2f}x; "
          f"max |descriptor diff| {diff:.1e}")


if __name__ == "__main__":
    main()
