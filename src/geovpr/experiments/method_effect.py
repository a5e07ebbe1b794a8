"""The pre-registered fine-tuning protocol of docs/method-effect.md, as pure library functions.

From one base model, each *arm* is fine-tuned for the same steps, learning rate, images per step and
trainable blocks, once per training seed; only the sampler of the second sub-batch differs
(:func:`trajectory_sampler`). Every model is evaluated on the same held-out queries (each image
encoded once per model), per-query hits are kept, and :mod:`.bootstrap` turns them into means with
intervals and paired differences against the ``random`` arm.

Inputs are two GSV-Cities-layout roots (``places``: random GSV-style batches in every arm;
``trajectories``: the arm's sampler) and a held-out set (:class:`HeldOut`). Nothing here knows the
synthetic world: the Nordland experiment can reuse it with its own roots and held-out frames.
"""
from __future__ import annotations

import csv
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from geovpr.errors import ConfigError
from geovpr.experiments.bootstrap import interval, paired_difference, verdict

log = logging.getLogger(__name__)

KS = (1, 5, 10)
RADIUS_M = 25.0
STRICT_RADIUS_M = 10.0
STRICT_KEY = "1@10m"
RECALL_KEYS = tuple(str(k) for k in KS) + (STRICT_KEY,)
ARMS = ("random", "cliquemining", "sage", "sage_place")


@dataclass(frozen=True)
class FineTune:
    """Settings shared by every arm (docs/method-effect.md, "Arms")."""

    epochs: int = 3
    steps_per_epoch: int = 50
    lr: float = 3e-4
    weight_decay: float = 1e-4
    places_per_batch: int = 8
    images_per_place: int = 4
    trainable_blocks: int = 2
    image_size: int = 48
    similar_clusters: int = 15
    tau_m: float = 25.0
    min_clique: int = 8
    gws_places: int = 4
    encode_batch_size: int = 128
    log_every_n_steps: int = 10
    device: str = "cpu"
    progress: bool = False


def trajectory_sampler(arm: str, ft: FineTune) -> dict[str, Any]:
    """The ``data.sources.trajectories.sampler`` mapping of an arm."""
    common = {"places_per_batch": ft.places_per_batch, "images_per_place": ft.images_per_place}
    mined = {**common, "similar_clusters": ft.similar_clusters, "batches_per_epoch": ft.steps_per_epoch}
    if arm == "random":
        return {"name": "random", **common, "min_img_per_place": ft.images_per_place, "drop_last": True}
    if arm == "cliquemining":  # static graph: the base model's descriptors, computed once
        return {"name": "cliquemining", **mined, "tau": ft.tau_m, "refresh_every": 0}
    if arm in ("sage", "sage_place"):  # online graph: the current model's descriptors, every epoch
        level = "image" if arm == "sage" else "place"
        out = {"name": "sage", **mined, "tau1": ft.tau_m, "min_clique": ft.min_clique, "refresh_every": 1,
               "gws_level": level}
        if level == "place":
            out["gws_places"] = ft.gws_places
        return out
    raise ConfigError(f"unknown arm {arm!r}; expected one of {ARMS}")


def source_entry(source: str | os.PathLike | Mapping[str, Any], sampler: dict[str, Any], k: int) -> dict[str, Any]:
    """A ``data.sources.<name>`` entry: a path is a GSV-Cities root; a mapping is used as given (e.g.
    ``{"reader": "folder", "path": ..., "radius": 10}``) with the arm's sampler."""
    if isinstance(source, Mapping):
        return {"min_img_per_place": k, **dict(source), "sampler": sampler}
    return {"reader": "gsv_cities", "path": str(source), "min_img_per_place": k, "sampler": sampler}


def arm_recipe(arm: str, base_model: str | os.PathLike, places_root: str | os.PathLike | Mapping[str, Any] | None,
               trajectories_root: str | os.PathLike | Mapping[str, Any], ft: FineTune, seed: int) -> dict[str, Any]:
    """The training recipe of one (arm, seed) run, for :func:`geovpr.train.api.fit`.

    ``places_root``: the random GSV-style sub-batch shared by every arm (None: no such sub-batch);
    ``trajectories_root``: the sub-batch drawn by the arm's sampler. Each is a GSV-Cities root or a
    full ``data.sources`` mapping (see :func:`source_entry`)."""
    k = ft.images_per_place
    places_sampler = {"name": "random", "places_per_batch": ft.places_per_batch, "images_per_place": k,
                      "min_img_per_place": k, "drop_last": True}
    sources = {}
    if places_root is not None:
        sources["places"] = source_entry(places_root, places_sampler, k)
    sources["trajectories"] = source_entry(trajectories_root, trajectory_sampler(arm, ft), k)
    return {
        "name": f"finetune_{arm}_seed{seed}",
        "seed": int(seed),
        "model": {"arch": str(base_model), "options": {"image_size": ft.image_size},
                  "config": {"backbone": {"num_trainable_blocks": ft.trainable_blocks, "train_embeddings": False}}},
        "data": {"sources": sources, "eval": {}},
        "mining": {"descriptor_batch_size": ft.encode_batch_size},
        "train": {
            "image_size": [ft.image_size, ft.image_size], "epochs": ft.epochs, "steps_per_epoch": ft.steps_per_epoch,
            "lr": ft.lr, "weight_decay": ft.weight_decay, "scheduler": {"name": "none"},
            "progress_bar": ft.progress, "tensorboard": False, "checkpoint_every_n_steps": 10**9,
            "log_every_n_steps": ft.log_every_n_steps, "eval_batch_size": ft.encode_batch_size,
            "accelerator": "cpu" if str(ft.device) == "cpu" else "auto",
        },
    }


# ----------------------------------------------------------------------------- held-out evaluation
@dataclass
class HeldOut:
    """Database and queries. With coordinates, positives within ``radius`` metres are derived on demand;
    ``given_positives`` (e.g. Nordland's +-1 frame) replaces them for every radius, and without
    coordinates the GDS figures are skipped."""

    name: str
    db_paths: list[str]
    query_paths: list[str]
    db_utm: np.ndarray | None = None
    query_utm: np.ndarray | None = None
    given_positives: list[np.ndarray] | None = None

    def __post_init__(self) -> None:
        if self.given_positives is None and (self.db_utm is None or self.query_utm is None):
            raise ConfigError(f"{self.name}: the protocol needs image coordinates (UTM) or given positives")

    @property
    def has_coordinates(self) -> bool:
        return self.db_utm is not None and self.query_utm is not None

    def positives(self, radius: float) -> list[np.ndarray]:
        if self.given_positives is not None:
            return self.given_positives
        d2 = ((self.query_utm[:, None, :] - self.db_utm[None, :, :]) ** 2).sum(-1)
        return [np.flatnonzero(row <= radius * radius) for row in d2]

    @classmethod
    def from_eval_set(cls, eval_set: Any, *, use_given_positives: bool = False) -> "HeldOut":
        """From an :class:`~geovpr.data.eval_set.EvalSet`: positives by radius from its coordinates, or
        (``use_given_positives``) the set's own positive lists."""
        utm = [None if u is None else np.asarray(u, dtype=np.float64) for u in (eval_set.db_utm, eval_set.query_utm)]
        given = [np.asarray(p) for p in eval_set.positives] if use_given_positives else None
        return cls(eval_set.name, list(eval_set.db_paths), list(eval_set.query_paths), utm[0], utm[1], given)


@dataclass
class Encoded:
    """Descriptors of a held-out set by one model (each image encoded once)."""

    database: np.ndarray
    queries: np.ndarray


def encode(model: torch.nn.Module, held_out: HeldOut, *, batch_size: int = 128, device: str = "cpu") -> Encoded:
    """Encode every database and query image of ``held_out`` once with ``model``."""
    from geovpr.models.encode import describe_eval_set

    described = describe_eval_set(model, held_out, batch_size=batch_size, device=device, progress=False,
                                  on_bad_image="error")
    return Encoded(described.database.descriptors, described.queries.descriptors)


@dataclass
class Score:
    """Per-query hits (``hits[key]``: bool ``[Q]``), recall, GDS summary and top-10 predictions of one model."""

    hits: dict[str, np.ndarray]
    recall: dict[str, float]
    gds: dict[str, Any]
    predictions: np.ndarray


def score(enc: Encoded, held_out: HeldOut, *, with_gds: bool = True) -> Score:
    """Recall@1/5/10 within 25 m, strict Recall@1 within 10 m, and the GDS report."""
    from geovpr.eval.gds import gds_report
    from geovpr.knn import exact_knn

    _, pred = exact_knn(enc.database, enc.queries, max(KS))
    hits: dict[str, np.ndarray] = {}
    for radius, keys in ((RADIUS_M, [(str(k), k) for k in KS]), (STRICT_RADIUS_M, [(STRICT_KEY, 1)])):
        pos = held_out.positives(radius)
        for key, k in keys:
            hits[key] = np.array([np.isin(pred[q, :k], pos[q]).any() for q in range(len(pos))], dtype=bool)
    recall = {key: float(h.mean()) for key, h in hits.items()}
    with_gds = with_gds and held_out.has_coordinates
    gds = gds_report(enc.queries, enc.database, held_out.query_utm, held_out.db_utm) if with_gds else {}
    return Score(hits, recall, gds, pred)


def choose_query_condition(base: dict[str, dict[str, float]], pixels: dict[str, dict[str, float]], *,
                           preferred: str = "winter_overcast", band: tuple[float, float] = (0.30, 0.70)) -> str:
    """The pre-registered choice of the query condition from validation recalls (``{condition: recall}``).

    Candidates: base strict R@1 (10 m) inside ``band`` and base R@1 (25 m) >= 2x pixels. Several: the
    ``preferred`` one if it qualifies, else the strict R@1 closest to 50 %; none: closest to 50 % overall.
    """
    if not base:
        raise ConfigError("no validation results to choose a query condition from")
    ok = [c for c, r in base.items()
          if band[0] <= r[STRICT_KEY] <= band[1] and r["1"] >= 2.0 * pixels.get(c, {}).get("1", 0.0)]
    if preferred in ok:
        return preferred
    pool = ok or list(base)
    return min(pool, key=lambda c: (abs(base[c][STRICT_KEY] - 0.5), c))


# ----------------------------------------------------------------------------- one fine-tuning run
class _StatsCatcher(logging.Handler):
    """Collects the per-epoch sampler stats the training loop logs (``EpochPlanner.plan``)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.epochs: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "sampler stats" in str(record.msg) and isinstance(record.args, tuple) and len(record.args) == 4:
            epoch, source, batches, stats = record.args
            self.epochs.append({"epoch": int(epoch), "source": str(source), "batches": int(batches), **dict(stats)})


def read_losses(run_dir: Path) -> list[dict[str, float]]:
    """``step``, ``loss``, ``loss/places``, ``loss/trajectories`` rows of the run's metrics.csv files."""
    rows = []
    for path in sorted(run_dir.glob("logs/version_*/metrics.csv")):
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                if row.get("loss"):
                    rows.append({k: float(row[k]) for k in ("step", "loss", "loss/places", "loss/trajectories")
                                 if row.get(k)})
    return rows


@dataclass
class Run:
    """One fine-tuned (arm, seed): its score, sampler stats per epoch, losses and time."""

    arm: str
    seed: int
    score: Score
    sampler_stats: list[dict[str, Any]]
    losses: list[dict[str, float]]
    train_seconds: float


def fine_tune(arm: str, seed: int, base_model: str | os.PathLike,
              places_root: str | os.PathLike | Mapping[str, Any] | None,
              trajectories_root: str | os.PathLike | Mapping[str, Any], ft: FineTune,
              run_dir: str | os.PathLike) -> torch.nn.Module:
    """Fine-tune ``base_model`` with the arm's batches (see :func:`arm_recipe`); returns the model.

    The sampler stats of each epoch are attached as ``model.sampler_stats`` (list of dicts)."""
    from geovpr.train.api import fit

    catcher = _StatsCatcher()
    logger = logging.getLogger("geovpr.train.datamodule")
    logger.addHandler(catcher)
    old_level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        fitted = fit(arm_recipe(arm, base_model, places_root, trajectories_root, ft, seed), run_dir)
    finally:
        logger.removeHandler(catcher)
        logger.setLevel(old_level)
    fitted.model.sampler_stats = catcher.epochs
    return fitted.model


def run_arm_seed(arm: str, seed: int, base_model: str | os.PathLike,
                 places_root: str | os.PathLike | Mapping[str, Any] | None, trajectories_root: str | os.PathLike | Mapping[str, Any], held_out: HeldOut, ft: FineTune,
                 run_dir: str | os.PathLike) -> Run:
    """Fine-tune, then encode the held-out set once and score it."""
    run_dir = Path(run_dir)
    t0 = time.perf_counter()
    model = fine_tune(arm, seed, base_model, places_root, trajectories_root, ft, run_dir)
    seconds = time.perf_counter() - t0
    enc = encode(model, held_out, batch_size=ft.encode_batch_size, device=ft.device)
    return Run(arm, seed, score(enc, held_out), list(model.sampler_stats), read_losses(run_dir), seconds)


# ----------------------------------------------------------------------------- summaries
def sage_fallback_share(stats: list[dict[str, Any]], places_per_batch: int) -> list[float]:
    """Per epoch, the share of the trajectory places that SAGE drew from a clique smaller than N."""
    out = []
    for s in stats:
        if s.get("source") == "trajectories" and "small_clique_fallback" in s:
            places = max(1, int(s["batches"]) * int(places_per_batch))
            out.append(float(s["small_clique_fallback"]) / places)
    return out


def summarize_arm(runs: Sequence[Run], *, n_boot: int = 2000, ft: FineTune | None = None) -> dict[str, Any]:
    """``recall`` (mean over seeds), ``recall_seeds``, ``recall_ci`` (per key), GDS means and per-seed values."""
    recall, ci = {}, {}
    for key in RECALL_KEYS:
        iv = interval(np.stack([r.score.hits[key] for r in runs]), n_boot=n_boot)
        recall[key], ci[key] = iv.mean, iv.as_list()
    gds_seeds = [r.score.gds.get("summary", {}) for r in runs]
    gds = {}
    for key in (gds_seeds[0] if gds_seeds else {}):
        vals = [g[key] for g in gds_seeds if g.get(key) is not None]
        gds[key] = float(np.mean(vals)) if vals else None
    out = {
        "seeds": [r.seed for r in runs],
        "recall": recall, "recall_seeds": [r.score.recall for r in runs], "recall_ci": ci,
        "gds": gds, "gds_seeds": gds_seeds,
        "train_seconds": [round(r.train_seconds, 1) for r in runs],
        "sampler_stats": [r.sampler_stats for r in runs],
    }
    if ft is not None:
        shares = [sage_fallback_share(r.sampler_stats, ft.places_per_batch) for r in runs]
        if any(shares):
            out["sage_fallback_share_per_epoch"] = shares
    return out


def paired_differences(runs: dict[str, Sequence[Run]], reference: str = "random", *,
                       n_boot: int = 2000) -> dict[str, dict[str, Any]]:
    """For every arm but ``reference``: per recall key, mean difference, 95 % interval and verdict."""
    if reference not in runs:
        return {}
    ref = {r.seed: r for r in runs[reference]}
    out: dict[str, dict[str, Any]] = {}
    for arm, arm_runs in runs.items():
        if arm == reference:
            continue
        seeds = [r.seed for r in arm_runs if r.seed in ref]
        if not seeds:
            continue
        mine = {r.seed: r for r in arm_runs}
        out[arm] = {}
        for key in RECALL_KEYS:
            a = np.stack([mine[s].score.hits[key] for s in seeds])
            b = np.stack([ref[s].score.hits[key] for s in seeds])
            d = paired_difference(a, b, n_boot=n_boot)
            out[arm][key] = {"mean": d.mean, "ci": d.as_list(), "verdict": verdict(d)}
    return out


@dataclass
class ProtocolResult:
    """Everything the protocol measured: per-arm runs, summaries and paired differences."""

    runs: dict[str, list[Run]] = field(default_factory=dict)
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    differences: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


def run_protocol(base_model: str | os.PathLike, places_root: str | os.PathLike | Mapping[str, Any] | None,
                 trajectories_root: str | os.PathLike | Mapping[str, Any],
                 held_out: HeldOut, out_dir: str | os.PathLike, *, arms: Sequence[str] = ARMS[:3],
                 seeds: Sequence[int] = (0, 1, 2), ft: FineTune = FineTune(), n_boot: int = 2000,
                 on_run: Callable[[Run], None] | None = None) -> ProtocolResult:
    """Fine-tune every arm for every seed from ``base_model`` and evaluate on ``held_out``.

    Runs go to ``out_dir/<arm>/seed<k>/`` (replaced if present). ``on_run`` is called after each run."""
    import shutil

    for arm in arms:
        trajectory_sampler(arm, ft)  # unknown arm -> ConfigError before any training
    if not seeds:
        raise ConfigError("the protocol needs at least one training seed")
    result = ProtocolResult(settings={"fine_tune": asdict(ft), "arms": list(arms), "seeds": list(seeds),
                                      "n_boot": n_boot, "base_model": str(base_model), "held_out": held_out.name})
    total = len(arms) * len(seeds)
    for i, (arm, seed) in enumerate(((a, s) for a in arms for s in seeds), 1):
        run_dir = Path(out_dir) / arm / f"seed{seed}"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        log.info("[%d/%d] fine-tuning arm %s, seed %d", i, total, arm, seed)
        run = run_arm_seed(arm, seed, base_model, places_root, trajectories_root, held_out, ft, run_dir)
        log.info("[%d/%d] %s seed %d: R@1 %.1f, R@1(10 m) %.1f (%.0fs)", i, total, arm, seed,
                 100 * run.score.recall["1"], 100 * run.score.recall[STRICT_KEY], run.train_seconds)
        result.runs.setdefault(arm, []).append(run)
        if on_run is not None:
            on_run(run)
    result.summaries = {arm: summarize_arm(r, n_boot=n_boot, ft=ft) for arm, r in result.runs.items()}
    result.differences = paired_differences(result.runs, n_boot=n_boot)
    return result
