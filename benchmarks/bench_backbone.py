"""DINOv2 backbone forward throughput (images/s) for ViT-S/14 and ViT-B/14 at 224 and 322 px.

Random weights (speed does not depend on them), eval mode, no grad, fp32.

    python benchmarks/bench_backbone.py [--batch 4] [--iters 3] [--variants vits14 vitb14] [--sizes 224 322]
"""
from __future__ import annotations

import argparse
import time

import torch

from geovpr.models.dinov2 import build_backbone


def throughput(backbone, size: int, batch: int, iters: int) -> float:
    x = torch.randn(batch, 3, size, size)
    with torch.no_grad():
        backbone(x)  # warm-up
        times = []
        for _ in range(iters):
            start = time.perf_counter()
            backbone(x)
            times.append(time.perf_counter() - start)
    return batch / sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=["vits14", "vitb14"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[224, 322])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(f"DINOv2 backbone forward, batch {args.batch}, device {args.device}, torch threads {torch.get_num_threads()}")
    print(f"{'model':8s} " + " ".join(f"{s:>8d}px" for s in args.sizes) + "   (images/s)")
    for variant in args.variants:
        torch.manual_seed(0)
        backbone = build_backbone({"variant": variant, "num_trainable_blocks": 4}).to(args.device).eval()
        rates = [throughput(backbone, s, args.batch, args.iters) for s in args.sizes]
        print(f"{variant:8s} " + " ".join(f"{r:10.2f}" for r in rates))


if __name__ == "__main__":
    main()
