"""Dynamic Power Normalization (DPN, from EMVP/SAGE).

One exponent ``e ∈ (0, 1)`` per sample is predicted from a pooled summary of the input,
then ``x ← sign(x)·(|x| + eps)^e + x`` (a signed power with a residual).
Keys: ``projection.0`` Linear(C, hidden), ``projection.3`` Linear(hidden, 1)
(Dropout(0.1) and ReLU in between, sigmoid after).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


def signed_power(x: Tensor, exponent: Tensor, eps: float = 1e-6) -> Tensor:
    """``sign(x)·(|x| + eps)^exponent + x``; ``exponent`` broadcasts against ``x``."""
    return torch.sign(x) * (x.abs() + eps).pow(exponent) + x


class DPN(nn.Module):
    """DPN over the last axis of ``x``; the summary is the mean over ``pool_dim``.

    SAGE's backbone uses tokens ``[B, T, C]`` with the mean over all tokens (CLS included);
    SoftP uses ``[B, l, m]`` with the mean over the ``l`` axis. Both are ``pool_dim=1``.
    """

    def __init__(self, num_channels: int, hidden: int, *, dropout: float = 0.1, eps: float = 1e-6) -> None:
        super().__init__()
        self.hidden = hidden
        self.eps = eps
        self.projection = nn.Sequential(
            nn.Linear(num_channels, hidden), nn.Dropout(dropout), nn.ReLU(), nn.Linear(hidden, 1)
        )

    def exponent(self, x: Tensor) -> Tensor:
        """The per-sample exponent ``[B]``."""
        return torch.sigmoid(self.projection(x.mean(dim=1))).squeeze(-1)

    def forward(self, x: Tensor, *, return_exponent: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        e = self.exponent(x)
        out = signed_power(x, e.view(-1, *([1] * (x.dim() - 1))), self.eps)
        return (out, e) if return_exponent else out
