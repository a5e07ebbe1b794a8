"""SALAD: Sinkhorn Algorithm for Locally Aggregated Descriptors (Izquierdo & Civera, CVPR 2024).

Patch features are softly assigned to ``m`` clusters by an optimal-transport plan with a
dustbin (log-domain Sinkhorn, 3 iterations), aggregated per cluster (``[B, l, m]``),
intra-normalised, flattened channel-major (index ``c·m + k``) and prefixed with the
normalised global-token features. Output ``g + m·l`` dims, unit norm.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geovpr.errors import ConfigError

SINKHORN_ITERS = 3


def conv_mlp(in_dim: int, hidden: int, out_dim: int, dropout: float) -> nn.Sequential:
    """1×1 conv → Dropout → ReLU → 1×1 conv (keys ``.0`` and ``.3``)."""
    return nn.Sequential(nn.Conv2d(in_dim, hidden, 1), nn.Dropout(dropout), nn.ReLU(), nn.Conv2d(hidden, out_dim, 1))


def token_mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """Linear → ReLU → Linear (keys ``.0`` and ``.2``)."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


def log_optimal_transport(scores: Tensor, dust_bin: Tensor, iters: int = SINKHORN_ITERS) -> Tensor:
    """Log transport plan ``[B, m+1, n]`` of ``scores [B, m, n]`` augmented with a dustbin row.

    Marginals: each cluster row 1/(m+n), the dustbin row (n−m)/(m+n), each column 1/(m+n);
    ``iters`` Sinkhorn sweeps (rows, then columns) from zero potentials; the plan is scaled
    by ``m+n`` (each column then sums to 1). Requires ``n > m``.
    """
    b, m, n = scores.shape
    if n <= m:
        raise ConfigError(
            f"SALAD needs more patches than clusters (n={n} patches, m={m} clusters); "
            "use larger images or fewer clusters"
        )
    z = torch.cat([scores, dust_bin.to(scores.dtype).expand(b, 1, n)], dim=1)
    norm = -math.log(m + n)
    log_a = torch.full((m + 1,), norm, dtype=z.dtype, device=z.device)
    log_a[m] = math.log(n - m) + norm
    log_b = torch.full((n,), norm, dtype=z.dtype, device=z.device)
    u = torch.zeros(b, m + 1, dtype=z.dtype, device=z.device)
    v = torch.zeros(b, n, dtype=z.dtype, device=z.device)
    for _ in range(iters):
        u = log_a - torch.logsumexp(z + v.unsqueeze(1), dim=2)
        v = log_b - torch.logsumexp(z + u.unsqueeze(2), dim=1)
    return z + u.unsqueeze(2) + v.unsqueeze(1) - norm


class SALAD(nn.Module):
    """SALAD aggregator; keys ``token_features.{0,2}``, ``cluster_features.{0,3}``, ``score.{0,3}``, ``dust_bin``.

    ``hidden_dim`` is 512 in every release (exposed only to build tiny test models).
    """

    def __init__(
        self,
        num_channels: int = 768,
        num_clusters: int = 64,
        cluster_dim: int = 128,
        token_dim: int = 256,
        dropout: float = 0.3,
        hidden_dim: int = 512,
    ) -> None:
        super().__init__()
        self.num_channels, self.num_clusters = num_channels, num_clusters
        self.cluster_dim, self.token_dim = cluster_dim, token_dim
        self.dropout, self.hidden_dim = dropout, hidden_dim
        self.token_features = token_mlp(num_channels, hidden_dim, token_dim)
        self.cluster_features = conv_mlp(num_channels, hidden_dim, cluster_dim, dropout)
        self.score = conv_mlp(num_channels, hidden_dim, num_clusters, dropout)
        self.dust_bin = nn.Parameter(torch.tensor(1.0))

    @property
    def out_dim(self) -> int:
        return self.token_dim + self.num_clusters * self.cluster_dim

    @property
    def config(self) -> dict[str, Any]:
        return {"name": "salad", "num_channels": self.num_channels, "num_clusters": self.num_clusters,
                "cluster_dim": self.cluster_dim, "token_dim": self.token_dim, "dropout": self.dropout,
                "hidden_dim": self.hidden_dim}

    def forward_intermediates(self, f: Tensor, t: Tensor | None) -> tuple[Tensor, dict[str, Tensor]]:
        """Descriptor and the intermediates (``score``, ``cluster_features``, ``token_features``,
        ``log_transport_with_dustbin``)."""
        if t is None:
            raise ConfigError("SALAD needs the global token: build the backbone with return_token=True")
        feats = self.cluster_features(f).flatten(2)  # [B, l, n]
        scores = self.score(f).flatten(2)  # [B, m, n]
        tok = self.token_features(t)  # [B, g]
        log_plan = log_optimal_transport(scores, self.dust_bin)
        plan = log_plan[:, : self.num_clusters].exp()  # [B, m, n]
        agg = F.normalize(torch.bmm(feats, plan.transpose(1, 2)), dim=1)  # [B, l, m], L2 over l
        out = F.normalize(torch.cat([F.normalize(tok, dim=-1), agg.flatten(1)], dim=-1), dim=-1)
        inter = {"score": scores, "cluster_features": feats, "token_features": tok,
                 "log_transport_with_dustbin": log_plan}
        return out, inter

    def forward(self, f: Tensor, t: Tensor | None = None) -> Tensor:
        return self.forward_intermediates(f, t)[0]
