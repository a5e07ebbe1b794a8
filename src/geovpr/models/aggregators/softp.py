"""SAGE SoftP: soft-weighted bilinear (CFP-style) aggregation with DPN post-normalisation.

The released configuration only (bilinear, per-sample scalar mean removal, softmax over
patches, ``/n`` then DPN, intra-L2 over ``l``, token first, final L2). The
``single_branch`` MLP is built but unused, as in every SAGE checkpoint, so those load strictly.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geovpr.errors import ConfigError
from geovpr.models.aggregators.salad import conv_mlp, token_mlp
from geovpr.models.dpn import DPN


class SoftWeighting(nn.Module):
    """Per-patch gain ``1 + α·sigmoid(MLP(‖d‖₂ + eps))`` (keys ``predictor.{0,2}``)."""

    def __init__(self, hidden: int = 128, alpha: float = 0.5, eps: float = 1e-6) -> None:
        super().__init__()
        self.alpha, self.eps = alpha, eps
        self.predictor = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, 1), nn.Sigmoid())

    def beta(self, x: Tensor) -> Tensor:
        """``α·sigmoid(MLP(r))`` per patch, ``[B, n]`` for ``x [B, C, h, w]``."""
        r = x.flatten(2).norm(dim=1) + self.eps  # [B, n]
        return self.alpha * self.predictor(r.unsqueeze(-1)).squeeze(-1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        beta = self.beta(x)
        return x * (1 + beta.view(x.shape[0], 1, *x.shape[2:])), beta


class SoftP(nn.Module):
    """SoftP aggregator; output ``token_dim + num_clusters·cluster_dim`` dims, unit norm."""

    def __init__(
        self,
        num_channels: int = 768,
        num_clusters: int = 64,
        cluster_dim: int = 128,
        token_dim: int = 256,
        dropout: float = 0.3,
        hidden_dim: int = 512,
        weighting_hidden_dim: int = 128,
        weighting_alpha: float = 0.5,
        singlebranch_mid_dim: int = 512,
        singlebranch_feature_dim: int = 192,
    ) -> None:
        super().__init__()
        if num_clusters % 2:
            raise ConfigError(f"SoftP needs an even num_clusters (DPN hidden = m/2), got {num_clusters}")
        self.num_channels, self.num_clusters = num_channels, num_clusters
        self.cluster_dim, self.token_dim = cluster_dim, token_dim
        self.dropout, self.hidden_dim = dropout, hidden_dim
        self.weighting_hidden_dim, self.weighting_alpha = weighting_hidden_dim, weighting_alpha
        self.singlebranch_mid_dim, self.singlebranch_feature_dim = singlebranch_mid_dim, singlebranch_feature_dim
        self.soft_weighting = SoftWeighting(weighting_hidden_dim, weighting_alpha)
        self.token_features = token_mlp(num_channels, hidden_dim, token_dim)
        self.cluster_features = conv_mlp(num_channels, hidden_dim, cluster_dim, dropout)
        self.score = conv_mlp(num_channels, hidden_dim, num_clusters, dropout)
        # Unused by the forward (released bilinear mode) but present in every SAGE checkpoint.
        self.single_branch = conv_mlp(num_channels, singlebranch_mid_dim, singlebranch_feature_dim, dropout)
        self.gpn = DPN(num_clusters, num_clusters // 2)

    @property
    def out_dim(self) -> int:
        return self.token_dim + self.num_clusters * self.cluster_dim

    @property
    def config(self) -> dict[str, Any]:
        keys = ("num_channels", "num_clusters", "cluster_dim", "token_dim", "dropout", "hidden_dim",
                "weighting_hidden_dim", "weighting_alpha", "singlebranch_mid_dim", "singlebranch_feature_dim")
        return {"name": "softp", **{k: getattr(self, k) for k in keys}}

    def forward_intermediates(self, f: Tensor, t: Tensor | None) -> tuple[Tensor, dict[str, Tensor]]:
        """Descriptor and intermediates (``softweight_beta``, ``f_mean_removed``, ``p_softmax``,
        ``fp`` (before ``/n``), ``dpn_exponent``)."""
        if t is None:
            raise ConfigError("SoftP needs the global token: build the backbone with return_token=True")
        x, beta = self.soft_weighting(f)
        feats = self.cluster_features(x).flatten(2)  # [B, l, n]
        scores = self.score(x).flatten(2)  # [B, m, n]
        feats = feats - feats.mean(dim=(1, 2), keepdim=True)  # one scalar per sample
        scores = scores - scores.mean(dim=(1, 2), keepdim=True)  # no-op after the softmax
        p = torch.softmax(scores, dim=2)
        fp = torch.bmm(feats, p.transpose(1, 2))  # [B, l, m]
        fp_n, e = self.gpn(fp / feats.shape[2], return_exponent=True)
        agg = F.normalize(fp_n, dim=1).flatten(1)
        tok = F.normalize(self.token_features(t), dim=-1)
        out = F.normalize(torch.cat([tok, agg], dim=-1), dim=-1)
        inter = {"softweight_beta": beta, "f_mean_removed": feats, "p_mean_removed": scores,
                 "p_softmax": p, "fp": fp, "dpn_exponent": e}
        return out, inter

    def forward(self, f: Tensor, t: Tensor | None = None) -> Tensor:
        return self.forward_intermediates(f, t)[0]
