"""Per-sub-batch MS loss: equals hand-sliced pytorch-metric-learning calls and the written-out formula."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_metric_learning import distances, losses, miners

from geovpr.train.loss import LossConfig, MultiSimilarityObjective
from geovpr.train.module import step_loss


def _batch(places: list[int], k: int, dim: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    n = sum(places) * k
    centers = torch.randn(sum(places), dim, generator=g)
    desc = F.normalize(centers.repeat_interleave(k, 0) + 0.9 * torch.randn(n, dim, generator=g), dim=1)
    labels, off = [], 0
    for p in places:  # labels disjoint across sub-batches
        labels += [off + i for i in range(p) for _ in range(k)]
        off += p
    return desc, torch.tensor(labels)


def _ms_reference(desc: torch.Tensor, labels: torch.Tensor, alpha=1.0, beta=50.0, base=0.0, eps=0.1) -> float:
    """The MS miner + loss of docs/reference-notes.md §4, written out in numpy."""
    s = (desc @ desc.T).double().numpy()
    lab = labels.numpy()
    n = len(lab)
    total = 0.0
    for i in range(n):
        pos = [j for j in range(n) if j != i and lab[j] == lab[i]]
        neg = [j for j in range(n) if lab[j] != lab[i]]
        if not pos or not neg:
            continue
        hard_p = [p for p in pos if s[i, p] - eps < max(s[i, neg])]
        hard_n = [q for q in neg if s[i, q] + eps > min(s[i, pos])]
        lp = np.log1p(np.exp(-alpha * (s[i, hard_p] - base)).sum()) / alpha if hard_p else 0.0
        ln = np.log1p(np.exp(beta * (s[i, hard_n] - base)).sum()) / beta if hard_n else 0.0
        total += lp + ln
    return total / n


def test_sum_of_slices_equals_hand_sliced_pml_and_fixes_reference_bug() -> None:
    k = 4
    desc, labels = _batch([3, 5], k)
    n1 = 3 * k
    obj = MultiSimilarityObjective(LossConfig())
    out = obj(desc, labels, [n1, 5 * k])

    loss_fn = losses.MultiSimilarityLoss(alpha=1.0, beta=50, base=0.0, distance=distances.DotProductSimilarity())
    miner = miners.MultiSimilarityMiner(epsilon=0.1, distance=distances.CosineSimilarity())
    parts = [(desc[:n1], labels[:n1]), (desc[n1:], labels[n1:])]
    expected = [loss_fn(d, lab, miner(d, lab)) for d, lab in parts]
    assert torch.allclose(out.terms[0], expected[0], atol=1e-6)
    assert torch.allclose(out.terms[1], expected[1], atol=1e-6)
    assert torch.allclose(out.loss, expected[0] + expected[1], atol=1e-6)
    # the reference sliced the second half as desc[B2*K:], wrong when B1 != B2
    buggy = loss_fn(desc[5 * k :], labels[5 * k :], miner(desc[5 * k :], labels[5 * k :]))
    assert not torch.allclose(out.terms[1], buggy, atol=1e-4)
    # batch accuracy = 1 - anchors with >= 1 hard positive / n
    for acc, (d, lab) in zip(out.batch_acc, parts):
        a1 = miner(d, lab)[0]
        assert acc == 1 - len(torch.unique(a1)) / len(lab)
    # and the pml numbers agree with the formula written out
    for term, (d, lab) in zip(out.terms, parts):
        assert abs(float(term) - _ms_reference(d, lab)) < 1e-5


def test_no_cross_sub_batch_pairs() -> None:
    """Moving sub-batch 2 far away changes nothing: no pair spans two sub-batches."""
    desc, labels = _batch([4, 4], 4, seed=1)
    obj = MultiSimilarityObjective()
    base = obj(desc, labels, [16, 16]).loss
    rotated = desc.clone()
    rotated[16:] = -rotated[16:]  # flips every cross-sub-batch similarity, keeps within-sub-batch ones
    assert torch.allclose(obj(rotated, labels, [16, 16]).loss, base, atol=1e-6)
    whole = obj(desc, labels, [32]).loss
    assert not torch.allclose(whole, base, atol=1e-4)


def test_step_loss_drops_skipped_images() -> None:
    desc, labels = _batch([3, 3], 4, seed=2)
    obj = MultiSimilarityObjective()
    marked = labels.clone()
    marked[[1, 14]] = -1  # one unreadable image in each sub-batch
    keep = marked >= 0
    got = step_loss(obj, desc, marked, [12, 12])
    want = obj(desc[keep], labels[keep], [11, 11])
    assert torch.allclose(got.loss, want.loss, atol=1e-6)
