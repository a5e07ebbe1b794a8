"""Nordland 64x32, winter -> summer: a base model, then each sampler fine-tunes it (several seeds).

The two stages of the papers' protocol (docs/method-effect.md, "## Nordland"):

1. **Base model**: a small DINOv2-architecture ViT + GridPool (a spatial-layout descriptor: the token
   map pooled to 4x8 cells, projected, flattened), trained from scratch on the training frames with
   random places (GSV-style batches), with per-image standardisation of its input
   (``preprocess.standardize``) -- the season changes brightness and contrast far more than layout,
   and a fixed train camera makes the layout most of what identifies a place.
2. **Arms**: each sampler fine-tunes the base model for the same steps, learning rate, places per
   step and trainable blocks, once per seed: ``random`` (random places), ``cliquemining`` (mining
   descriptors computed once, by the base model), ``sage`` (online graph from the current model every
   epoch, image-level GWS) and ``mixed`` (random + CliqueMining halves per step, as released).

Data: ``--train DIR`` holds ``summer/images-NNNNN.png`` and ``winter/images-NNNNN.png`` (same file name =
same place; shared/data/nordland_64x32). Each frame is a place (its summer and its winter image); its
"coordinate" is the frame index on a line, so ``--tau`` is in frames; consecutive runs of ``--section``
frames act as the samplers' cities (default: the whole training line is one city). Evaluation
(``--eval DIR``, VPR-Bench layout: ``query/`` winter, ``ref/`` summer, ``ground_truth_new.npy`` with
+-1 frame) never sees a training frame: frames whose files the evaluation set uses are dropped from
training (with an evaluation set of other frames, all ``--train`` frames are trained on). ``--make-eval-split`` first writes the last
``--heldout`` frames (400) to ``--eval``; with ``--validation N`` it writes the N frames before them
instead (the selection split: the held-out frames are then neither trained on nor read).

    python benchmarks/nordland_samplers.py --train ../shared/data/nordland_64x32 --make-eval-split \\
        --eval /tmp/nordland_eval --out nordland_samplers.json

Writes ``{name: {"recall": {"1", "5", "10"}, ...}}`` to ``--out`` (arms: mean over seeds, plus
``recall_seeds``, ``recall_ci`` and training diagnostics; ``pixels``, ``base`` and ``untrained`` as
baselines; ``paired_differences``: arm - random) and prints a table.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from geovpr.experiments.bootstrap import interval, paired_difference, verdict

log = logging.getLogger("nordland_samplers")
FRAME = re.compile(r"images-(\d+)\.png$")
KS = ("1", "5", "10")


# ----------------------------------------------------------------------------- frames and splits
def frames(root: Path) -> list[str]:
    """Frame file names present in both seasons, in frame order."""
    for season in ("summer", "winter"):
        if not (root / season).is_dir():
            raise SystemExit(f"{root}: no {season}/ folder (expected summer/ and winter/ images-NNNNN.png)")
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
            if link.is_symlink() or link.exists():
                link.unlink()
            os.symlink((root / season / name).resolve(), link)
    n = len(names)
    gt = np.empty((n, 2), dtype=object)
    for i in range(n):
        gt[i, 0] = i
        gt[i, 1] = list(range(max(0, i - tolerance), min(n, i + tolerance + 1)))
    np.save(out / "ground_truth_new.npy", gt, allow_pickle=True)


def split_frames(names: list[str], heldout: int, validation: int) -> tuple[list[str], list[str]]:
    """(training frames, frames written by --make-eval-split): held-out = the last ``heldout``;
    with ``validation`` > 0 the evaluation frames are the ``validation`` frames before them instead."""
    if heldout < 0 or validation < 0 or heldout + validation >= len(names):
        raise SystemExit(f"--heldout {heldout} + --validation {validation} must leave training frames "
                         f"(there are {len(names)})")
    end = len(names) - heldout
    if validation:
        return names[: end - validation], names[end - validation : end]
    return names[:end], names[end:]


def drop_eval_frames(root: Path, names: list[str], eval_set: Any) -> list[str]:
    """Training frames minus every frame whose summer or winter file the evaluation set uses."""
    used = {os.path.realpath(p) for p in (*eval_set.db_paths, *eval_set.query_paths)}
    kept = [n for n in names if not ({os.path.realpath(root / s / n) for s in ("summer", "winter")} & used)]
    if len(kept) < len(names):
        log.info("dropped %d training frames that the evaluation set uses", len(names) - len(kept))
    return kept


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


# ----------------------------------------------------------------------------- recipes
def sampler_sources(name: str, folder: Path, args: argparse.Namespace, steps_per_epoch: int) -> dict:
    """The training sources of one arm (2 images per place: a frame's summer and winter image)."""
    base = {"reader": "folder", "path": str(folder), "radius": 0.5, "min_img_per_place": 2}
    places = args.places
    random_cfg = {"name": "random", "images_per_place": 2, "min_img_per_place": 2, "shuffle_all": True,
                  "drop_last": True, "batches_per_epoch": steps_per_epoch}
    mined = {"images_per_place": 2, "similar_clusters": args.similar, "batches_per_epoch": steps_per_epoch}
    clique = {"name": "cliquemining", "tau": args.tau, "refresh_every": 0, **mined}
    if name == "random":
        return {"random": {**base, "sampler": {**random_cfg, "places_per_batch": places}}}
    if name == "cliquemining":
        return {"clique": {**base, "sampler": {**clique, "places_per_batch": places}}}
    if name == "sage":
        return {"sage": {**base, "sampler": {"name": "sage", "places_per_batch": places, "tau1": args.tau,
                                             "min_clique": args.min_clique, "refresh_every": 1, **mined}}}
    if name == "mixed":
        half = places // 2
        return {"random": {**base, "sampler": {**random_cfg, "places_per_batch": half}},
                "clique": {**base, "sampler": {**clique, "places_per_batch": places - half}}}
    raise SystemExit(f"unknown sampler {name!r}; expected random, cliquemining, sage or mixed")


def base_model_spec(args: argparse.Namespace) -> dict:
    """The base architecture: a DINOv2-style ViT (all blocks and embeddings trained) + GridPool."""
    size = [args.height, args.width]
    backbone = {"embed_dim": args.dim, "depth": args.depth, "num_heads": args.heads, "patch_size": args.patch,
                "img_size": args.width, "num_trainable_blocks": args.depth, "train_embeddings": True}
    return {"arch": "tiny_vit_gem", "options": {"image_size": size},
            "config": {"backbone": backbone,
                       "aggregator": {"name": "grid", "num_channels": args.dim, "grid": args.grid, "dim": args.cell_dim},
                       "preprocess": {"size": size, "mode": "rgb", "standardize": not args.no_standardize}}}


def recipe(name: str, model: dict, sources: dict, steps: int, epochs: int, lr: float, seed: int,
           args: argparse.Namespace) -> dict:
    spe = max(1, steps // epochs)
    return {
        "name": f"nordland_{name}",
        "seed": seed,
        "model": model,
        "data": {"sources": sources},
        "train": {"image_size": [args.height, args.width], "epochs": epochs, "steps_per_epoch": spe, "lr": lr,
                  "weight_decay": 1e-4, "scheduler": {"name": "none"}, "accelerator": "cpu",
                  "progress_bar": False, "tensorboard": False, "checkpoint_every_n_steps": 10**9,
                  "log_every_n_steps": min(10, spe)},
    }


# ----------------------------------------------------------------------------- evaluation
def evaluate_hits(model: Any, eval_set: Any) -> tuple[dict, np.ndarray, np.ndarray]:
    """(recall dict, hits [queries, len(KS)] bool, top-1 database index per query)."""
    from geovpr.eval.evaluate import evaluate

    res = evaluate(model, eval_set, batch_size=64, device="cpu", ks=tuple(int(k) for k in KS), progress=False,
                   return_predictions=True)
    pred = np.asarray(res["predictions"])
    hits = np.zeros((len(eval_set.positives), len(KS)), dtype=bool)
    for q, pos in enumerate(eval_set.positives):
        for j, k in enumerate(KS):
            hits[q, j] = np.isin(pred[q, : int(k)], pos).any()
    recall = {k: float(res["recall"][k]) for k in KS}
    return recall, hits, pred[:, 0]


def miss_offsets(top1: np.ndarray, eval_set: Any) -> dict:
    """Where wrong top-1 matches lie, in database positions from the nearest positive (sequence order)."""
    off = []
    for q, pos in enumerate(eval_set.positives):
        if len(pos) and top1[q] not in pos:
            off.append(int(np.min(np.abs(np.asarray(pos) - top1[q]))))
    off = np.asarray(off)
    if off.size == 0:
        return {"misses": 0}
    return {"misses": int(off.size), "median": float(np.median(off)), "share_within_10": float((off <= 10).mean()),
            "share_within_3": float((off <= 3).mean())}


def training_curve(run_dir: Path) -> dict:
    """Loss and batch accuracy (share of anchors with no mined pair) early vs late in a run."""
    rows = []
    for path in sorted((run_dir / "logs").glob("version_*/metrics.csv")):
        with path.open() as fh:
            rows += [r for r in csv.DictReader(fh) if r.get("loss")]
    if not rows:
        return {}
    quarter = max(1, len(rows) // 4)
    out = {}
    for key in ("loss", "b_acc"):
        vals = [float(r[key]) for r in rows if r.get(key)]
        if vals:
            out[f"{key}_first_quarter"] = float(np.mean(vals[:quarter]))
            out[f"{key}_last_quarter"] = float(np.mean(vals[-quarter:]))
    return out


# ----------------------------------------------------------------------------- batch diagnostics
def batch_diagnostics(name: str, folder: Path, base_model: Any, args: argparse.Namespace) -> dict:
    """First-epoch batches of a sampler (mining descriptors from the base model): geographic spread of
    the places and the base model's cosine similarity of each anchor's hardest negative."""
    from geovpr.data.readers.folder_train import read_folder_places
    from geovpr.mining.samplers import build_sampler

    table = read_folder_places(folder, 0.5, min_img_per_place=2)
    desc = base_model.describe([str(p) for p in table.paths], batch_size=128)
    spread, hardest, nearest = [], [], []
    for src in sampler_sources(name, folder, args, args.diag_batches).values():
        options = {"seed": args.seed, **{k: v for k, v in src["sampler"].items() if k != "name"}}
        sampler = build_sampler(src["sampler"]["name"], table, **options)
        rows = sampler.descriptor_request(0)
        if rows is not None:
            sampler.set_descriptors(rows, desc[rows])
        for batch in sampler.epoch_batches(0)[: args.diag_batches]:
            frame = table.utm[batch[:, 0], 0]
            gaps = np.abs(frame[:, None] - frame[None, :])[~np.eye(len(frame), dtype=bool)]
            spread.append(float(frame.max() - frame.min()))
            nearest.append(float(np.median(np.sort(gaps.reshape(len(frame), -1), axis=1)[:, 0])))
            d = desc[batch.ravel()]
            sim = d @ d.T
            label = np.repeat(np.arange(len(batch)), batch.shape[1])
            sim[label[:, None] == label[None, :]] = -np.inf
            hardest.append(float(np.median(sim.max(axis=1))))
        stats = dict(sampler.stats)
    return {"batch_frame_span_median": float(np.median(spread)),
            "nearest_other_place_frames_median": float(np.median(nearest)),
            "hardest_negative_cosine_median": float(np.median(hardest)),
            "sampler_stats_epoch0": {k: int(v) for k, v in stats.items()}}


# ----------------------------------------------------------------------------- the experiment
def summarise(per_seed: list[dict], hits: np.ndarray) -> dict:
    """Mean recall over seeds, the per-seed list and the bootstrap interval per K."""
    mean = {k: float(np.mean([r[k] for r in per_seed])) for k in KS}
    ci = {k: interval(hits[:, :, j]).as_list() for j, k in enumerate(KS)}
    return {"recall": mean, "recall_seeds": per_seed, "recall_ci": ci}


def train_base(folder: Path, tmp: Path, args: argparse.Namespace) -> Path:
    from geovpr.train.api import fit

    sources = sampler_sources("random", folder, args, max(1, args.base_steps // args.base_epochs))
    cfg = recipe("base", base_model_spec(args), sources, args.base_steps, args.base_epochs, args.base_lr, args.seed,
                 args)
    t0 = time.perf_counter()
    fit(cfg, tmp / "base")
    log.info("base model: %d steps in %.0f s", args.base_steps, time.perf_counter() - t0)
    return tmp / "base" / "model"


def run_arms(folder: Path, base_dir: Path, eval_set: Any, tmp: Path, args: argparse.Namespace) -> dict:
    from geovpr.train.api import fit

    results, all_hits = {}, {}
    model = {"arch": str(base_dir), "options": {}, "config": {}}
    for name in args.arms.split(","):
        per_seed, hits, curves, seconds = [], [], [], []
        for seed in range(args.seed, args.seed + args.seeds):
            t0 = time.perf_counter()
            sources = sampler_sources(name, folder, args, max(1, args.steps // args.epochs))
            run_dir = tmp / f"{name}_seed{seed}"
            fitted = fit(recipe(name, model, sources, args.steps, args.epochs, args.lr, seed, args), run_dir)
            recall, h, top1 = evaluate_hits(fitted.model, eval_set)
            per_seed.append(recall)
            hits.append(h)
            curves.append(training_curve(run_dir))
            seconds.append(time.perf_counter() - t0)
            log.info("%s seed %d: R@1 %.2f (%.0f s)", name, seed, 100 * recall["1"], seconds[-1])
        all_hits[name] = np.stack(hits)
        results[name] = {**summarise(per_seed, all_hits[name]), "training": curves, "train_seconds": seconds,
                         "misses_last_seed": miss_offsets(top1, eval_set)}
    if "random" in all_hits:
        diffs = {}
        for name, h in all_hits.items():
            if name != "random":
                diffs[name] = {}
                for j, k in enumerate(KS):
                    d = paired_difference(h[:, :, j], all_hits["random"][:, :, j])
                    diffs[name][k] = [d.mean, d.low, d.high]
                    if k == "1":
                        diffs[name]["verdict_r1"] = verdict(d)
        results["paired_differences"] = {"vs": "random", "value_lo_hi": diffs}
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True, type=Path, help="nordland_64x32 folder (summer/, winter/)")
    ap.add_argument("--eval", required=True, type=Path, help="VPR-Bench-layout evaluation set (frames never trained on)")
    ap.add_argument("--make-eval-split", action="store_true", help="write --eval from the held-out frames first")
    ap.add_argument("--out", required=True, type=Path, help="result JSON")
    ap.add_argument("--heldout", type=int, default=None,
                    help="last frames never trained on (default 400 with --make-eval-split, else 0)")
    ap.add_argument("--validation", type=int, default=0,
                    help="--make-eval-split writes the N frames before the held-out ones (selection split)")
    ap.add_argument("--arms", default="random,cliquemining,sage,mixed",
                    help="comma list of random, cliquemining, sage, mixed")
    ap.add_argument("--seeds", type=int, default=3, help="fine-tuning seeds per arm")
    ap.add_argument("--seed", type=int, default=0, help="first seed (base model seed)")
    ap.add_argument("--base", type=Path, default=None, help="use this base model folder instead of training one")
    ap.add_argument("--save-base", type=Path, default=None, help="copy the trained base model here")
    ap.add_argument("--base-steps", type=int, default=1000)
    ap.add_argument("--base-epochs", type=int, default=2)
    ap.add_argument("--base-lr", type=float, default=1e-3)
    ap.add_argument("--steps", type=int, default=300, help="fine-tuning steps per arm and seed")
    ap.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs (SAGE refreshes its graph each)")
    ap.add_argument("--lr", type=float, default=3e-4, help="fine-tuning learning rate")
    ap.add_argument("--places", type=int, default=32, help="places per step (2 images each)")
    ap.add_argument("--section", type=int, default=0,
                    help="frames per section (the samplers' 'cities'); 0: the whole training line is one")
    ap.add_argument("--tau", type=float, default=1.5, help="mined places: images pairwise < tau frames apart")
    ap.add_argument("--similar", type=int, default=15, help="similar clusters drawn with each anchor")
    ap.add_argument("--min-clique", type=int, default=3, help="SAGE: N, the clique size GWS chooses from")
    ap.add_argument("--dim", type=int, default=64, help="ViT width")
    ap.add_argument("--depth", type=int, default=3, help="ViT blocks")
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--patch", type=int, default=8, help="ViT patch size (pixels)")
    ap.add_argument("--height", type=int, default=32, help="model input height")
    ap.add_argument("--width", type=int, default=64, help="model input width")
    ap.add_argument("--grid", type=int, nargs=2, default=[4, 8], help="GridPool cells (rows, columns)")
    ap.add_argument("--cell-dim", type=int, default=16, help="GridPool channels per cell")
    ap.add_argument("--no-standardize", action="store_true", help="ImageNet normalisation only (no per-image)")
    ap.add_argument("--diag-batches", type=int, default=20, help="batches per sampler for the batch diagnostics")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (0: torch's default; 1 is as fast for this tiny model and immune to a busy machine)")
    args = ap.parse_args(argv)
    if args.heldout is None:
        args.heldout = 400 if args.make_eval_split else 0
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("pytorch_lightning", "lightning_fabric", "lightning"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import torch

    from geovpr.data.readers import load_eval_set
    from geovpr.models.factory import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    names = frames(args.train)
    train_names, eval_names = split_frames(names, args.heldout, args.validation)
    if args.make_eval_split:
        make_eval_split(args.train, eval_names, args.eval)
    eval_set = load_eval_set(args.eval, format="vprbench")
    train_names = drop_eval_frames(args.train, train_names, eval_set)
    log.info("training frames %d (%s..%s), evaluation queries %d", len(train_names), train_names[0],
             train_names[-1], eval_set.num_queries)
    results: dict[str, Any] = {}
    recall, hits, _ = evaluate_hits(load_model("pixels"), eval_set)
    results["pixels"] = {"recall": recall}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        folder = make_train_folder(args.train, train_names, tmp / "train", args.section or len(train_names))
        base_dir = args.base if args.base is not None else train_base(folder, tmp, args)
        if args.save_base is not None and args.base is None:
            shutil.copytree(base_dir, args.save_base, dirs_exist_ok=True)
        base = load_model(base_dir)
        recall, hits, top1 = evaluate_hits(base, eval_set)
        results["base"] = {"recall": recall, "misses": miss_offsets(top1, eval_set)}
        torch.manual_seed(args.seed)
        spec = base_model_spec(args)
        untrained = load_model(spec["arch"], config=spec["config"], **spec["options"])
        results["untrained"] = {"recall": evaluate_hits(untrained, eval_set)[0]}
        results.update(run_arms(folder, base_dir, eval_set, tmp, args))
        if args.diag_batches:
            results["batch_diagnostics"] = {name: batch_diagnostics(name, folder, base, args)
                                            for name in args.arms.split(",")}
    results["settings"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    results["settings"]["train_frames"] = len(train_names)
    results["settings"]["eval_queries"] = int(eval_set.num_queries)
    results["wall_seconds"] = time.perf_counter() - t_start
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    return results


def print_table(results: dict) -> None:
    print(f"{'model':14s} {'R@1':>6s} {'R@5':>6s} {'R@10':>6s}   R@1 95% interval")
    for name, res in results.items():
        if not isinstance(res, dict) or "recall" not in res:
            continue
        r = res["recall"]
        ci = res.get("recall_ci", {}).get("1")
        extra = f"   [{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]" if ci else ""
        print(f"{name:14s} {100 * r['1']:6.2f} {100 * r['5']:6.2f} {100 * r['10']:6.2f}{extra}")
    for name, d in results.get("paired_differences", {}).get("value_lo_hi", {}).items():
        v, lo, hi = d["1"]
        print(f"{name} - random R@1: {100 * v:+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}]")


if __name__ == "__main__":
    main()
