"""Data-parallel pieces: place shards per rank and an all-gather that keeps gradients.

Every rank builds the same global batch (the samplers are deterministic in seed and epoch) and
takes a contiguous share of the places of each sub-batch. Before mining and loss the local
descriptors are all-gathered with a gradient-carrying all-gather (:class:`_AllGatherWithGrad`, whose
backward sums the incoming gradients over ranks), and put back into the global place-major order, so every rank computes
the loss of the whole global batch and hard negatives that live on another rank count. With the
gradient averaging of DDP this gives exactly the single-process gradient of the global batch:
each rank receives ``W * dL/d(own descriptors)`` from the gather and DDP divides by ``W``.

We chose this over pytorch-metric-learning's ``DistributedLossWrapper`` because the wrapper computes
the loss with local anchors against gathered references, which changes the MS loss normalisation
(mean over local anchors) and the miner's view; the plain gather reproduces the single-process loss.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group, ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def place_share(num_places: int, rank: int, world_size: int) -> slice:
    """Contiguous places of ``rank``; every sub-batch must split evenly over the ranks."""
    if num_places % world_size:
        raise ValueError(f"{num_places} places per sub-batch do not split evenly over {world_size} ranks")
    per = num_places // world_size
    return slice(rank * per, (rank + 1) * per)


def global_order(local_sizes: list[int], world_size: int) -> np.ndarray:
    """Index that turns rank-major gathered rows into sub-batch-major (global) order.

    Gathered rows are ``[rank0: sb0, sb1, ..., rank1: sb0, sb1, ...]``; the result lists, for each
    sub-batch, the rows of every rank in rank order (i.e. the global place-major layout).
    """
    per_rank = sum(local_sizes)
    starts = np.cumsum([0] + local_sizes[:-1])
    order = [
        np.arange(r * per_rank + s0, r * per_rank + s0 + n)
        for s0, n in zip(starts, local_sizes)
        for r in range(world_size)
    ]
    return np.concatenate(order).astype(np.int64) if order else np.zeros(0, np.int64)


class _AllGatherWithGrad(torch.autograd.Function):
    """Concatenated all-gather (equal shapes); backward sums the incoming gradients over ranks and
    returns this rank's slice (what ``torch.distributed.nn.functional.all_gather`` does; works on gloo)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        world_size = dist.get_world_size()
        ctx.rank, ctx.n = dist.get_rank(), tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(world_size)]
        dist.all_gather(parts, tensor)
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.n : (ctx.rank + 1) * ctx.n]


def gather_global_batch(
    descriptors: torch.Tensor, labels: torch.Tensor, local_sizes: list[int]
) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """All-gather descriptors (with gradient) and labels; return them in global order with the global sizes."""
    rank, world_size = world()
    if world_size == 1:
        return descriptors, labels, list(local_sizes)
    gathered = _AllGatherWithGrad.apply(descriptors.contiguous())
    label_parts = [torch.empty_like(labels) for _ in range(world_size)]
    dist.all_gather(label_parts, labels.contiguous())
    order = torch.from_numpy(global_order(list(local_sizes), world_size)).to(descriptors.device)
    all_labels = torch.cat(label_parts, dim=0)
    return gathered[order], all_labels[order], [n * world_size for n in local_sizes]


def all_gather_rows(array: np.ndarray) -> list[np.ndarray]:
    """Gather a float32 numpy array of any row count from every rank (object gather, rank order)."""
    _, world_size = world()
    if world_size == 1:
        return [array]
    out: list = [None] * world_size
    dist.all_gather_object(out, array)
    return out
