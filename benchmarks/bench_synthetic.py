"""Time the synthetic city generator (rendering + JPEG writing) at several image sizes.

    python benchmarks/bench_synthetic.py --size large --image-sizes 64 128

Prints images/s per image size and the ratio to the first size, measured in one run.
"""
from __future__ import annotations

import argparse
import tempfile
import time

from geovpr.data.synthetic import generate_city


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="large", help="city preset: quick | demo | large")
    parser.add_argument("--image-sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rates = []
    for image_size in args.image_sizes:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            city = generate_city(tmp, seed=args.seed, size=args.size, image_size=image_size, progress=False)
            seconds = time.perf_counter() - start
        n = city.num_train_images + city.num_database + city.num_queries
        rates.append(n / seconds)
        print(f"{args.size} city, {image_size:4d} px: {n} images in {seconds:6.1f} s = {rates[-1]:7.1f} img/s "
              f"(x{rates[-1] / rates[0]:.2f} of {args.image_sizes[0]} px)")


if __name__ == "__main__":
    main()
