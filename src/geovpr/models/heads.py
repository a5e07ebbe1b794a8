"""SAGE's InteractHead: a cross-image transformer encoder over descriptor chunks.

The descriptor ``[B, D]`` is cut into ``D / d_model`` chunks and fed to post-norm
``nn.TransformerEncoderLayer``\\ s (GELU, dropout 0.1, ``batch_first=False``). Keys equal
``nn.TransformerEncoder``'s: ``layers.{i}.self_attn.in_proj_weight`` … ``layers.{i}.norm2.*``.

Two modes, part of the model's config so results can record them:

* ``"batch"`` — the reference behaviour: the tensor ``[B, chunks, d]`` is read as
  (sequence = images, batch = chunks), so chunk j of each image attends to chunk j of every
  other image *in the same call*; descriptors depend on batch composition and size.
* ``"single"`` (default) — each image alone (identical to calling the reference with batch 1);
  descriptors do not depend on the other images.

The output is not re-normalised (as in the reference).
"""
from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from geovpr.errors import ConfigError

HEAD_MODES = ("single", "batch")


class InteractHead(nn.Module):
    """Cross-image encoder ``[B, D] → [B, D]`` (``D`` divisible by ``d_model``)."""

    def __init__(
        self,
        d_model: int = 768,
        nhead: int = 16,
        dim_feedforward: int = 1024,
        num_layers: int = 2,
        dropout: float = 0.1,
        mode: str = "single",
    ) -> None:
        super().__init__()
        if d_model % nhead:
            raise ConfigError(f"InteractHead d_model {d_model} is not divisible by nhead {nhead}")
        self.d_model, self.nhead, self.dim_feedforward = d_model, nhead, dim_feedforward
        self.num_layers, self.dropout = num_layers, dropout
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation="gelu",
                                       batch_first=False)
            for _ in range(num_layers)
        )
        self.mode = mode

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in HEAD_MODES:
            raise ConfigError(f"InteractHead mode must be one of {HEAD_MODES}, got {value!r}")
        self._mode = value

    @property
    def config(self) -> dict[str, Any]:
        return {"name": "interact", "d_model": self.d_model, "nhead": self.nhead,
                "dim_feedforward": self.dim_feedforward, "num_layers": self.num_layers,
                "dropout": self.dropout, "mode": self.mode}

    def forward(self, x: Tensor, mode: str | None = None) -> Tensor:
        mode = mode or self.mode
        b, dim = x.shape
        if dim % self.d_model:
            raise ConfigError(f"descriptor dim {dim} is not a multiple of the InteractHead d_model {self.d_model}")
        chunks = x.reshape(b, dim // self.d_model, self.d_model)  # (seq = images, batch = chunks, d)
        if mode == "single":
            chunks = chunks.reshape(1, -1, self.d_model)  # a sequence of one image per chunk
        elif mode not in HEAD_MODES:
            raise ConfigError(f"InteractHead mode must be one of {HEAD_MODES}, got {mode!r}")
        for layer in self.layers:
            chunks = layer(chunks)
        return chunks.reshape(b, dim)
