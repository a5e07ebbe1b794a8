"""``geovpr demo``: the whole pipeline on the synthetic city, in a few minutes on a CPU.

1. generate a synthetic city (:func:`geovpr.data.synthetic.generate_city`);
2. train the same tiny DINOv2-architecture ViT from scratch once per sampler
   (RandomPlaces, CliqueMining, SAGE), same seed and number of steps, through
   :func:`geovpr.train.api.fit`;
3. evaluate each on the held-out district (never seen in training) under a different appearance condition
   (Recall@K via :func:`geovpr.eval.evaluate.evaluate`, GDS via
   :func:`geovpr.eval.gds.gds_report`), plus two untrained baselines;
4. write ``results.json`` (``{sampler: {"recall": {...}, "gds": {...}}}``),
   ``environment.json`` (how the results were made), ``baselines.json``, ``report.md``, ``recall.png``, ``gds.png`` and
   ``retrieval_grid.png`` into the output folder.

The output folder's ``city/`` is reused when it was generated with the same
settings; ``runs/<sampler>/`` is replaced on every run.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from geovpr.errors import ConfigError

log = logging.getLogger(__name__)

SAMPLERS = ("random", "cliquemining", "sage")
KS = (1, 5, 10)


@dataclass(frozen=True)
class DemoConfig:
    """Every knob of the demo (``DEMO`` and ``QUICK`` are the two presets)."""

    city_size: str = "demo"
    city_image_size: int = 64
    train_image_size: int = 56
    arch: str = "tiny_vit_salad"
    epochs: int = 3
    steps_per_epoch: int = 40
    places_per_batch: int = 16
    images_per_place: int = 4
    lr: float = 1e-3
    samplers: tuple[str, ...] = SAMPLERS
    seed: int = 0
    grid_queries: int = 4
    batch_size: int = 64
    device: str = "cpu"
    #: CPU intra-op threads while the demo runs (restored afterwards). Fixed, not the machine's
    #: core count: float sums depend on how they are split, so this keeps a seed's numbers the
    #: same on machines with other core counts (oversubscribing one core changes nothing numeric).
    threads: int = 2
    progress: bool = True
    extra: dict = field(default_factory=dict)


DEMO = DemoConfig()
QUICK = DemoConfig(city_size="quick", city_image_size=48, train_image_size=42, epochs=2, steps_per_epoch=3,
                   places_per_batch=8, grid_queries=2)


def sampler_config(name: str, cfg: DemoConfig) -> dict[str, Any]:
    """The ``data.sources.<name>.sampler`` mapping of a demo run."""
    common = {"places_per_batch": cfg.places_per_batch, "images_per_place": cfg.images_per_place,
              "batches_per_epoch": cfg.steps_per_epoch}
    if name == "random":
        return {"name": "random", **common, "min_img_per_place": cfg.images_per_place}
    if name == "cliquemining":  # static graph: descriptors of the initial model, never refreshed
        return {"name": "cliquemining", **common, "similar_clusters": 15, "tau": 25.0, "refresh_every": 0}
    if name == "sage":  # online graph: re-encoded with the current model every epoch
        return {"name": "sage", **common, "similar_clusters": 15, "tau1": 25.0, "min_clique": 8, "refresh_every": 1}
    raise ValueError(f"unknown demo sampler {name!r}; expected one of {SAMPLERS}")


def model_config() -> dict[str, Any]:
    """Train the whole tiny ViT from scratch: every block and the patch embedding / tokens."""
    return {"backbone": {"num_trainable_blocks": 2, "train_embeddings": True}}


def demo_recipe(name: str, train_root: Path, cfg: DemoConfig) -> dict[str, Any]:
    """The training recipe of one demo run (a plain dict for :func:`geovpr.train.api.fit`)."""
    return {
        "name": f"demo_{name}",
        "seed": cfg.seed,
        # trained from scratch: random weights on purpose (required for a dinov2_*/sage_* arch)
        "model": {"arch": cfg.arch, "options": {"image_size": cfg.train_image_size, "random_init": True},
                  "config": model_config()},
        "data": {
            "sources": {"synthetic": {"reader": "gsv_cities", "path": str(train_root),
                                      "min_img_per_place": cfg.images_per_place,
                                      "sampler": sampler_config(name, cfg)}},
            "eval": {},
        },
        "mining": {"descriptor_batch_size": cfg.batch_size},
        "train": {
            "randaugment": {"num_ops": 0},  # off, as in recipes/demo.yaml (the released recipes use 3)
            "image_size": [cfg.train_image_size, cfg.train_image_size], "epochs": cfg.epochs,
            "steps_per_epoch": cfg.steps_per_epoch, "lr": cfg.lr, "weight_decay": 1e-4,
            "scheduler": {"name": "none"}, "progress_bar": cfg.progress, "tensorboard": False,
            "checkpoint_every_n_steps": 10**9, "log_every_n_steps": 10, "eval_batch_size": cfg.batch_size,
            "accelerator": "cpu" if str(cfg.device) == "cpu" else "auto",
        },
    }


def _city(out: Path, cfg: DemoConfig):
    from geovpr.data.synthetic import SyntheticCity, generate_city

    root = out / "city"
    meta_path = root / "city.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if (meta.get("seed"), meta.get("size", {}), meta.get("image_size")) == (
            cfg.seed, _size_dict(cfg.city_size), [cfg.city_image_size] * 2
        ):
            log.info("reusing the synthetic city in %s", root)
            return SyntheticCity(root=root, train_root=root / "train", eval_root=root / "eval",
                                 cities=tuple(meta["cities"]), num_train_images=meta["num_train_images"],
                                 num_train_places=meta["num_train_places"], num_database=meta["num_database"],
                                 num_queries=meta["num_queries"], image_size=tuple(meta["image_size"]),
                                 seed=meta["seed"], seconds=0.0)
    return generate_city(root, seed=cfg.seed, size=cfg.city_size, image_size=cfg.city_image_size,
                         progress=cfg.progress, overwrite=True)


def _size_dict(size: str) -> dict[str, Any]:
    from geovpr.data.synthetic import SIZES

    return asdict(SIZES[size])


def assess(model: Any, eval_set: Any, cfg: DemoConfig) -> dict[str, Any]:
    """Recall@K (with predictions) and the GDS report of one model on the evaluation set."""
    from geovpr.commands.gds import model_descriptors
    from geovpr.eval.evaluate import evaluate
    from geovpr.eval.gds import gds_report

    res = evaluate(model, eval_set, batch_size=cfg.batch_size, device=cfg.device, ks=KS, progress=cfg.progress,
                   return_predictions=True)
    arrays = model_descriptors(model, eval_set, batch_size=cfg.batch_size, device=cfg.device, progress=cfg.progress)
    gds = gds_report(arrays["queries"], arrays["database"], arrays["queries_utm"], arrays["database_utm"])
    return {"recall": {str(k): float(res["recall"][str(k)]) for k in KS}, "gds": gds,
            "predictions": np.asarray(res["predictions"])}


def _public(entry: dict[str, Any], seconds: float | None = None) -> dict[str, Any]:
    out = {"recall": entry["recall"], "gds": entry["gds"]["summary"], "gds_full": entry["gds"]}
    if seconds is not None:
        out["train_seconds"] = round(seconds, 1)
    return out


def _grid_rows(eval_set: Any, entries: dict[str, dict[str, Any]], n: int) -> list:
    from geovpr.eval.visualize import GridRow

    picks = np.linspace(0, eval_set.num_queries - 1, n).round().astype(int)
    db_utm, q_utm = np.asarray(eval_set.db_utm), np.asarray(eval_set.query_utm)
    rows = []
    for q in picks:
        for name, entry in entries.items():
            top = entry["predictions"][q, :5]
            dist = np.linalg.norm(db_utm[top] - q_utm[q], axis=1)
            ok = np.isin(top, eval_set.positives[q])
            rows.append(GridRow(eval_set.query_paths[q], [eval_set.db_paths[i] for i in top], dist.tolist(),
                                ok.tolist(), label=f"{name} q{q}"))
    return rows


def results_table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown table: R@1/5/10 (%) and the GDS summary per model."""
    gds_keys = list(next(iter(results.values()))["gds"])
    head = "| model | R@1 | R@5 | R@10 | " + " | ".join(gds_keys) + " |"
    lines = [head, "|---" * (4 + len(gds_keys)) + "|"]
    for name, r in results.items():
        rec = " | ".join(f"{100 * r['recall'][str(k)]:.1f}" for k in KS)
        gds = " | ".join("n/a" if r["gds"][k] is None else f"{r['gds'][k]:.3f}" for k in gds_keys)
        lines.append(f"| {name} | {rec} | {gds} |")
    return "\n".join(lines)


def run_demo(out_dir: str | os.PathLike, config: DemoConfig = DEMO) -> dict[str, Any]:
    """Run the demo into ``out_dir``; returns the ``results.json`` mapping (sampler -> recall, gds).

    Runs with ``config.threads`` CPU intra-op threads (the previous count is restored).
    """
    import torch

    cfg = config
    if cfg.threads < 1:
        raise ConfigError(f"demo threads must be >= 1, got {cfg.threads}")
    before = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _run_demo(out_dir, cfg)
    finally:
        torch.set_num_threads(before)


def _run_demo(out_dir: str | os.PathLike, cfg: DemoConfig) -> dict[str, Any]:
    from geovpr.data.eval_set import load_eval_set
    from geovpr.eval.visualize import plot_gds, plot_recalls, retrieval_grid
    from geovpr.models.factory import load_model
    from geovpr.provenance import environment_record
    from geovpr.train.api import fit

    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    city = _city(out, cfg)
    t_city = time.perf_counter() - t0
    eval_set = load_eval_set(city.eval_root)

    entries: dict[str, dict[str, Any]] = {}
    train_seconds: dict[str, float] = {}
    for i, name in enumerate(cfg.samplers, 1):
        log.info("[%d/%d] training with the %s sampler: %d epochs x %d steps of %d places x %d images",
                 i, len(cfg.samplers), name, cfg.epochs, cfg.steps_per_epoch, cfg.places_per_batch,
                 cfg.images_per_place)
        run_dir = out / "runs" / name
        if run_dir.exists():
            shutil.rmtree(run_dir)
        t = time.perf_counter()
        fitted = fit(demo_recipe(name, city.train_root, cfg), run_dir)
        train_seconds[name] = time.perf_counter() - t
        log.info("[%d/%d] evaluating %s", i, len(cfg.samplers), name)
        entries[name] = assess(fitted.model, eval_set, cfg)

    baselines = {
        "pixels": load_model("pixels", device=cfg.device),
        "untrained": load_model(cfg.arch, device=cfg.device, config=model_config(), image_size=cfg.train_image_size,
                                random_init=True),
    }
    base_entries = {}
    for name, model in baselines.items():
        log.info("evaluating the %s baseline", name)
        base_entries[name] = assess(model, eval_set, cfg)

    results = {n: _public(e, train_seconds[n]) for n, e in entries.items()}
    base_results = {n: _public(e) for n, e in base_entries.items()}
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "environment.json").write_text(json.dumps(environment_record(device=cfg.device), indent=2) + "\n")
    (out / "baselines.json").write_text(json.dumps(base_results, indent=2) + "\n")
    everything = {**results, **base_results}
    plot_recalls(everything, out / "recall.png")
    plot_gds({n: e["gds"] for n, e in {**entries, **base_entries}.items()}, out / "gds.png")
    retrieval_grid(_grid_rows(eval_set, entries, cfg.grid_queries), out / "retrieval_grid.png")
    total = time.perf_counter() - t0
    _write_report(out, cfg, city, everything, t_city, train_seconds, total)
    log.info("demo finished in %.0fs; report in %s", total, out / "report.md")
    return results


def _write_report(out: Path, cfg: DemoConfig, city: Any, results: dict, t_city: float, train_s: dict,
                  total: float) -> None:
    from geovpr.data.synthetic.conditions import DATABASE_CONDITION, QUERY_CONDITION, TRAIN_CONDITIONS

    text = [
        "# geovpr demo on the synthetic city", "",
        f"City: {city.num_train_images} training images ({city.num_train_places} places, cities {', '.join(city.cities)}), "
        f"evaluation district: {city.num_database} database ({DATABASE_CONDITION}) / {city.num_queries} queries "
        f"({QUERY_CONDITION}; training districts seen under {', '.join(TRAIN_CONDITIONS)}); "
        f"{city.image_size[0]} px images, seed {cfg.seed}, {cfg.threads} CPU threads.", "",
        f"Model: `{cfg.arch}` from scratch at {cfg.train_image_size} px, {cfg.epochs} epochs x {cfg.steps_per_epoch} "
        f"steps of {cfg.places_per_batch} places x {cfg.images_per_place} images, AdamW lr {cfg.lr}, MS loss. "
        "Baselines: raw pixels and the untrained network.", "",
        results_table(results), "",
        "GDS columns are geovpr's own definitions (see `geovpr.eval.gds`): slope of descriptor distance over "
        "0-25 m, pairwise mis-ordering probability within 25 m (0.5 = blind), top-10 ordering error and Kendall tau.",
        "",
        f"Timings: city {t_city:.0f}s; training " + ", ".join(f"{k} {v:.0f}s" for k, v in train_s.items())
        + f"; total {total:.0f}s.", "",
        "How these results were made (versions, commit, device, command line): `environment.json`.", "",
        "![recall](recall.png)", "", "![gds](gds.png)", "", "![retrieval](retrieval_grid.png)", "",
    ]
    (out / "report.md").write_text("\n".join(text))
