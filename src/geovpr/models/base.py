"""What every descriptor model offers to evaluation, indexing and training.

A :class:`DescriptorModel` is an ``nn.Module`` that maps a batch of
preprocessed images ``[B, C, H, W]`` to descriptors ``[B, D]`` and knows how
its images must be preprocessed (:class:`~geovpr.data.preprocess.Preprocess`). Its ``config`` is a
JSON-able dict from which the same architecture can be rebuilt; the
``fingerprint`` identifies config + weights (an index refuses to mix models).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import torch
from torch import nn

from geovpr.data.preprocess import Preprocess
from geovpr.models.encode import describe_images


class DescriptorModel(nn.Module):
    """Base class: subclasses set ``preprocess`` and implement ``forward`` and ``config``."""

    preprocess: Preprocess = Preprocess()

    @property
    def descriptor_dim(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def config(self) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def fingerprint(self) -> str:
        """sha256 over the config and every tensor of the state dict (first 16 hex digits)."""
        h = hashlib.sha256(json.dumps(self.config, sort_keys=True).encode())
        h.update(json.dumps(self.preprocess.to_dict(), sort_keys=True).encode())
        for key, value in sorted(self.state_dict().items()):
            h.update(key.encode())
            h.update(value.detach().to("cpu").contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    @torch.no_grad()
    def describe(self, images: Any, batch_size: int = 32) -> np.ndarray:
        """Descriptors of image paths or PIL images, float32 ``[N, D]`` (eval mode, no grad)."""
        return describe_images(self, images, batch_size=batch_size)
