"""Train a small model from scratch on Nordland 64x32 with each sampler; Recall@K winter -> summer.

Data: ``--train DIR`` holds ``summer/images-NNNNN.png`` and ``winter/images-NNNNN.png`` (same frame
number = same place; shared/data/nordland_64x32). Each frame is a place (its summer and winter
image); its "coordinate" is the frame index on a 1-D line, so tau is in frames. The frames are cut
into sections of ``--section`` frames that play the role of cities. The last ``--heldout`` frames
are never trained on: they form the evaluation set (queries = winter, database = summer, positives
= frames within +-1), in the VPR-Bench layout given by ``--eval DIR`` or built from ``--train`` with
``--make-eval-split``.

Every sampler trains the same tiny ViT (random init, same seed) for the same number of steps and
places per step; the mined samplers use places of images pairwise closer than ``--tau`` frames.

    python benchmarks/nordland_samplers.py --train ../shared/data/nordland_64x32 --make-eval-split \\
        --eval /tmp/nordland_eval --out nordland_samplers.json

Writes ``{sampler: {"recall": {"1", "5", "10"}, ...}}`` to ``--out`` and prints a table.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("nordland_samplers")
FRAME = re.compile(r"images-(\d+)\.png$")


def frames(root: Path) -> list[str]:
    """Frame file names present in both seasons, in frame order."""
    summer = {p.name for p in (root / "summer").iterdir() if FRAME.search(p.name)}
    winter = {p.name for p in (root / "winter").iterdir() if FRAME.search(p.name)}
    names = sorted(summer & winter, key=lambda n: int(FRAME.search(n).group(1)))
    if not names:
        raise SystemExit(f"{root}: no summer/winter images-NNNNN.png pairs found")
    return names


def make_eval_split(root: Path, names: list[str], out: Path, tolerance: int = 1) -> None:
    """VPR-Bench layout: query/ (winter), ref/ (summer), ground_truth_new.npy with +-tolerance frames."""
    for sub in ("query", "ref"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        for season, sub in (("winter", "query"), ("summer", "ref")):
            link = out / sub / f"{i:07d}.png"
            if not link.exists():
                os.symlink((root / season / name).resolve(), link)
    n = len(names)
    gt = np.empty((n, 2), dtype=object)
    for i in range(n):
        gt[i, 0] = i
        gt[i, 1] = list(range(max(0, i - tolerance), min(n, i + tolerance + 1)))
    np.save(out / "ground_truth_new.npy", gt, allow_pickle=True)


def make_train_folder(root: Path, names: list[str], out: Path, section: int) -> Path:
    """@-named symlinks: ``@<frame index>@0@...`` in one sub-folder ("city") per section of frames."""
    for i, name in enumerate(names):
        city = out / f"section{i // section:03d}"
        city.mkdir(parents=True, exist_ok=True)
        for season in ("summer", "winter"):
            link = city / f"@{i:.2f}@0.00@0@N@@@{season}@@@@@@@{name}@.png"
            if not link.exists():
                os.symlink((root / season / name).resolve(), link)
    return out


def sampler_sources(name: str, folder: Path, places: int, tau: float, steps_per_epoch: int) -> dict:
    base = {"reader": "folder", "path": str(folder), "radius": 0.5, "min_img_per_place": 2}
    random_cfg = {"name": "random", "images_per_place": 2, "min_img_per_place": 2, "shuffle_all": True,
                  "drop_last": True}
    mined = {"images_per_place": 2, "similar_clusters": 15, "batches_per_epoch": steps_per_epoch}
    if name == "random":
        return {"random": {**base, "sampler": {**random_cfg, "places_per_batch": places}}}
    if name == "cliquemining":
        return {"clique": {**base, "sampler": {"name": "cliquemining", "places_per_batch": places, "tau": tau,
                                               "refresh_every": 0, **mined}}}
    if name == "sage":
        return {"sage": {**base, "sampler": {"name": "sage", "places_per_batch": places, "tau1": tau,
                                             "min_clique": 3, "refresh_every": 1, **mined}}}
    if name == "mixed":
        half = places // 2
        return {"random": {**base, "sampler": {**random_cfg, "places_per_batch": half}},
                "clique": {**base, "sampler": {"name": "cliquemining", "places_per_batch": places - half,
                                               "tau": tau, "refresh_every": 0, **mined}}}
    raise SystemExit(f"unknown sampler {name!r}")


def recipe(name: str, folder: Path, args: argparse.Namespace) -> dict:
    spe = max(1, args.steps // args.epochs)
    return {
        "name": f"nordland_{name}",
        "seed": args.seed,
        "model": {"arch": "tiny_vit_gem", "options": {"image_size": [56, 112]},
                  "config": {"backbone": {"num_trainable_blocks": 2, "train_embeddings": True}}},
        "data": {"sources": sampler_sources(name, folder, args.places, args.tau, spe)},
        "train": {"image_size": [56, 112], "epochs": args.epochs, "steps_per_epoch": spe, "lr": args.lr,
                  "weight_decay": 1e-4, "scheduler": {"name": "none"}, "accelerator": "cpu",
                  "progress_bar": False, "tensorboard": False, "checkpoint_every_n_steps": 10**9,
                  "log_every_n_steps": 10},
    }


def evaluate_model(model, eval_set) -> dict:
    from geovpr.eval.evaluate import evaluate

    res = evaluate(model, eval_set, batch_size=64, device="cpu", ks=(1, 5, 10), progress=False)
    return {"recall": {k: float(res["recall"][k]) for k in ("1", "5", "10")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True, type=Path, help="nordland_64x32 folder (summer/, winter/)")
    ap.add_argument("--eval", required=True, type=Path, help="VPR-Bench-layout evaluation set (held-out frames)")
    ap.add_argument("--make-eval-split", action="store_true", help="build --eval from the held-out frames first")
    ap.add_argument("--out", required=True, type=Path, help="result JSON")
    ap.add_argument("--samplers", default="random,cliquemining,sage,mixed")
    ap.add_argument("--heldout", type=int, default=400, help="last frames kept for evaluation")
    ap.add_argument("--section", type=int, default=250, help="frames per section (the samplers' 'cities')")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--places", type=int, default=16, help="places per step (2 images each)")
    ap.add_argument("--tau", type=float, default=1.5, help="mined places: images pairwise < tau frames apart")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("pytorch_lightning", "lightning_fabric", "lightning"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from geovpr.data.eval_set import load_eval_set
    from geovpr.models.factory import load_model
    from geovpr.train.api import fit

    names = frames(args.train)
    train_names, held = names[: -args.heldout], names[-args.heldout :]
    if args.make_eval_split:
        make_eval_split(args.train, held, args.eval)
    eval_set = load_eval_set(args.eval, format="vprbench")
    log.info("train frames %d (%s..%s), held-out frames %d, eval queries %d", len(train_names), train_names[0],
             train_names[-1], len(held), eval_set.num_queries)
    results: dict[str, dict] = {}
    results["pixels (no training)"] = evaluate_model(load_model("pixels"), eval_set)
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_train_folder(args.train, train_names, Path(tmp) / "train", args.section)
        for name in args.samplers.split(","):
            t0 = time.perf_counter()
            fitted = fit(recipe(name, folder, args), Path(tmp) / f"run_{name}")
            results[name] = {**evaluate_model(fitted.model, eval_set), "train_seconds": time.perf_counter() - t0,
                             "steps": args.steps, "places_per_step": args.places}
            log.info("%s: %s", name, results[name])
        import torch

        torch.manual_seed(args.seed)
        untrained = load_model("tiny_vit_gem", image_size=[56, 112], config={"backbone": {"num_trainable_blocks": 2}})
        results["untrained tiny ViT"] = evaluate_model(untrained, eval_set)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'sampler':24s} {'R@1':>6s} {'R@5':>6s} {'R@10':>6s}")
    for name, res in results.items():
        r = res["recall"]
        print(f"{name:24s} {100 * r['1']:6.2f} {100 * r['5']:6.2f} {100 * r['10']:6.2f}")


if __name__ == "__main__":
    main()
