"""Tiny on-disk datasets for the training tests (written into a tmp folder; a few hundred KB)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from geovpr.data.readers.gsv_cities import gsv_image_name

CITY_ORIGINS = {"Alpha": (45.0, 7.0), "Beta": (41.9, 12.5)}


def place_image(rng: np.random.Generator, base: np.ndarray, size: int) -> Image.Image:
    """A place's base pattern plus per-image noise and a small shift."""
    shift = rng.integers(-2, 3, size=2)
    img = np.roll(base, tuple(int(s) for s in shift), axis=(0, 1)) + rng.normal(0, 18, base.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).resize((size, size))


def make_gsv_cities(root: Path, *, places_per_city: int = 12, images_per_place: int = 4, size: int = 40,
                    seed: int = 0, small_places: int = 0) -> Path:
    """GSV-Cities layout (``Dataframes/<City>.csv`` + ``Images/<city_id>/...jpg``) with ``small_places``
    extra places of 2 images per city."""
    rng = np.random.default_rng(seed)
    for city, (lat0, lon0) in CITY_ORIGINS.items():
        rows = []
        n_places = places_per_city + small_places
        for pid in range(n_places):
            base = rng.uniform(0, 255, size=(8, 8, 3)).repeat(size // 8, 0).repeat(size // 8, 1)
            lat, lon = round(lat0 + 0.002 * pid, 6), round(lon0 + 0.001 * (pid % 3), 6)
            n_img = images_per_place if pid < places_per_city else 2
            for j in range(n_img):
                row = {"place_id": pid, "year": 2015 + j, "month": 1 + j, "northdeg": 10 * j, "city_id": city,
                       "lat": lat + 1e-6 * j, "lon": lon, "panoid": f"p{pid}_{j}-x"}
                rows.append(row)
                out = root / "Images" / city / gsv_image_name(row)
                out.parent.mkdir(parents=True, exist_ok=True)
                place_image(rng, base, size).save(out, format="JPEG", quality=90)
        (root / "Dataframes").mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(root / "Dataframes" / f"{city}.csv", index=False)
    return root


def tiny_recipe(gsv_root: Path, samplers: dict[str, dict], **train: object) -> dict:
    """A recipe dict training ``tiny_vit_salad`` at 56 px on ``gsv_root`` with one source per sampler."""
    sources = {name: {"reader": "gsv_cities", "path": str(gsv_root), "sampler": cfg} for name, cfg in samplers.items()}
    return {
        "name": "tiny",
        "seed": 3,
        "model": {"arch": "tiny_vit_salad", "options": {"image_size": 56}},
        "data": {"sources": sources},
        "train": {"image_size": [56, 56], "epochs": 1, "lr": 1e-3, "checkpoint_every_n_steps": 2,
                  "progress_bar": False, "log_every_n_steps": 1, "tensorboard": False, **train},
    }


RANDOM = {"name": "random", "places_per_batch": 4, "images_per_place": 4, "drop_last": True}
CLIQUE = {"name": "cliquemining", "places_per_batch": 4, "images_per_place": 4, "similar_clusters": 3,
          "batches_per_epoch": 3}
SAGE = {"name": "sage", "places_per_batch": 4, "images_per_place": 4, "similar_clusters": 3, "batches_per_epoch": 3,
        "min_clique": 4}


# ----------------------------------------------------------------------------- DDP test worker
DDP_SEED = 11
DDP_PLACES = (4, 2)  # places per sub-batch (GSV-like + mined-like), split over 2 ranks
DDP_K = 2
DDP_STEPS = 2


def ddp_plan():
    """A fixed two-source plan: DDP_STEPS steps, rows into a bank of distinct images."""
    import numpy as np

    from geovpr.train.datamodule import EpochPlan

    rng = np.random.default_rng(DDP_SEED)
    n_rows = 64
    perm = rng.permutation(n_rows)
    sizes = [DDP_STEPS * p * DDP_K for p in DDP_PLACES]
    batches = [perm[sum(sizes[:i]) : sum(sizes[: i + 1])].reshape(DDP_STEPS, p, DDP_K) for i, p in enumerate(DDP_PLACES)]
    return EpochPlan(0, batches), n_rows


def ddp_images(n_rows: int):
    import torch

    g = torch.Generator().manual_seed(DDP_SEED)
    return torch.randn(n_rows, 3, 56, 56, generator=g)


def ddp_run(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    """One rank (or the single-process reference when world_size == 1): DDP_STEPS AdamW steps."""
    import torch
    import torch.distributed as dist

    from geovpr.models.factory import load_model
    from geovpr.train.datamodule import step_items
    from geovpr.train.loss import MultiSimilarityObjective
    from geovpr.train.module import step_loss

    if world_size > 1:
        torch.set_num_threads(1)  # in the forked children only: two ranks share the cores
        dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    torch.manual_seed(DDP_SEED)
    model = load_model("tiny_vit_gem", image_size=56).train()
    if world_size == 1:
        torch.save({k: v.clone() for k, v in model.state_dict().items()}, f"{out_dir}/initial.pt")
    params = model.trainable_parameters()
    net = torch.nn.parallel.DistributedDataParallel(model) if world_size > 1 else model
    opt = torch.optim.SGD(params, lr=0.5)  # linear in the gradient: compares gradients, not Adam's sign-like steps
    obj = MultiSimilarityObjective()
    plan, n_rows = ddp_plan()
    images = ddp_images(n_rows)
    local_sizes = [p // world_size * DDP_K for p in DDP_PLACES]
    record = {"rows": [], "loss": []}
    for step in range(DDP_STEPS):
        items = step_items(plan, [None, None], step, 0, rank, world_size)
        rows = torch.tensor([r for r, _, _ in items])
        labels = torch.tensor([lab for _, _, lab in items])
        opt.zero_grad()
        out = step_loss(obj, net(images[rows]), labels, local_sizes)
        out.loss.backward()
        opt.step()
        record["rows"].append(rows)
        record["loss"].append(out.loss.detach())
    record["state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save(record, f"{out_dir}/rank{rank}_of{world_size}.pt")
    if world_size > 1:
        dist.destroy_process_group()
