"""Two CPU processes (gloo): disjoint place shares, identical weights, loss == single-process loss."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.multiprocessing as mp
from train_data import DDP_K, DDP_PLACES, DDP_STEPS, ddp_plan, ddp_run

from geovpr.train.distributed import global_order


def test_global_order_restores_place_major_layout() -> None:
    # 2 ranks, sub-batches of 2 and 1 local images: rank-major gathered rows -> sub-batch-major
    assert global_order([2, 1], 2).tolist() == [0, 1, 3, 4, 2, 5]


def test_two_process_ddp_matches_single_process(tmp_path: Path) -> None:
    # fork: the children inherit the imported modules (spawn would re-import torch in each)
    mp.start_processes(ddp_run, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True,
                       start_method="fork")
    ddp_run(0, 1, "", str(tmp_path))
    r0, r1 = (torch.load(tmp_path / f"rank{r}_of2.pt") for r in (0, 1))
    single = torch.load(tmp_path / "rank0_of1.pt")
    plan, _ = ddp_plan()
    for step in range(DDP_STEPS):
        rows0, rows1 = set(r0["rows"][step].tolist()), set(r1["rows"][step].tolist())
        assert not rows0 & rows1  # disjoint places (each place's rows live on one rank)
        assert rows0 | rows1 == {int(x) for b in plan.batches for x in b[step].ravel()}
        assert len(rows0) == len(rows1) == sum(DDP_PLACES) * DDP_K // 2
        # every rank computes the loss of the whole global batch = the single-process loss
        assert torch.equal(r0["loss"][step], r1["loss"][step])
        assert torch.allclose(r0["loss"][step], single["loss"][step], atol=1e-5)
    for key in single["state"]:
        assert torch.equal(r0["state"][key], r1["state"][key]), key
        diff = (r0["state"][key] - single["state"][key]).abs().max().item()
        assert diff < 1e-5, (key, diff)
    initial = torch.load(tmp_path / "initial.pt")
    changed = [k for k in initial if not torch.equal(initial[k], r0["state"][k])]
    assert changed  # the steps did move the weights that are compared above
