"""Multi-Similarity loss over mixed batches, one term per sub-batch.

A training step holds several sub-batches (e.g. 30 GSV-Cities places + 30 mined places, 4 images
each), laid out place-major one after the other. Each sub-batch is mined and scored on its own and
the terms are summed, exactly as CliqueMining intends, but every slice uses its own size (the
reference slices the second half with the first half's size). No cross-sub-batch pairs are formed.

Loss and miner come from pytorch-metric-learning: ``MultiSimilarityLoss(alpha, beta, base,
DotProductSimilarity())`` and ``MultiSimilarityMiner(epsilon, CosineSimilarity())``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from pytorch_metric_learning import distances, losses, miners


@dataclass(frozen=True)
class LossConfig:
    """Hyper-parameters of the MS loss and miner (VPR defaults)."""

    alpha: float = 1.0
    beta: float = 50.0
    base: float = 0.0
    miner_epsilon: float = 0.1
    use_miner: bool = True


@dataclass
class SubBatchLoss:
    """Result of one step: total loss, per-sub-batch terms and batch accuracies (1 - mined anchors / n)."""

    loss: torch.Tensor
    terms: list[torch.Tensor]
    batch_acc: list[float]


class MultiSimilarityObjective(torch.nn.Module):
    """MS loss (+ MS miner) evaluated separately on consecutive slices of a batch and summed."""

    def __init__(self, config: LossConfig = LossConfig()) -> None:
        super().__init__()
        self.config = config
        self.loss_fn = losses.MultiSimilarityLoss(
            alpha=config.alpha, beta=config.beta, base=config.base, distance=distances.DotProductSimilarity()
        )
        self.miner = (
            miners.MultiSimilarityMiner(epsilon=config.miner_epsilon, distance=distances.CosineSimilarity())
            if config.use_miner
            else None
        )

    def single(self, descriptors: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, float]:
        """Loss and batch accuracy of one sub-batch (``descriptors [n, D]``, ``labels [n]``)."""
        descriptors = descriptors.float()
        if self.miner is None:
            return self.loss_fn(descriptors, labels), 0.0
        pairs = self.miner(descriptors, labels)
        mined_anchors = int(torch.unique(pairs[0]).numel())
        return self.loss_fn(descriptors, labels, pairs), 1.0 - mined_anchors / max(len(labels), 1)

    def forward(self, descriptors: torch.Tensor, labels: torch.Tensor, sizes: list[int]) -> SubBatchLoss:
        """Sum of the per-slice losses; ``sizes`` are the sub-batch lengths (images) in batch order."""
        if sum(sizes) != len(descriptors) or len(labels) != len(descriptors):
            raise ValueError(f"sub-batch sizes {sizes} do not add up to the batch of {len(descriptors)} descriptors")
        if not torch.isfinite(descriptors).all():
            raise FloatingPointError("non-finite descriptors in the training batch (diverged training?)")
        terms, accs, start = [], [], 0
        for size in sizes:
            term, acc = self.single(descriptors[start : start + size], labels[start : start + size])
            terms.append(term)
            accs.append(acc)
            start += size
        return SubBatchLoss(torch.stack(terms).sum(), terms, accs)
