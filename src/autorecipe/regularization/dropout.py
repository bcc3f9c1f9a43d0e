"""Regularizers that live inside the network: dropout before the head and stochastic depth.

Declared in the regularization bucket (their purpose is generalization); every architecture
builder receives them through ModelSpec and places them itself.
"""

from __future__ import annotations

import torch
from torch import nn

from ..knobs import Uniform, knob

DROPOUT = knob(
    "dropout", bucket="regularization", default=0.0, baseline=0.0, low=0.0, high=0.9,
    search=Uniform(0.0, 0.5),
    doc="Dropout probability on the features entering the classifier head.",
)
DROP_PATH = knob(
    "drop_path", bucket="regularization", default=0.0, baseline=0.0, low=0.0, high=0.9,
    search=Uniform(0.0, 0.3),
    doc="Stochastic depth: probability of skipping a residual branch in training (Huang et al., 2016), "
        "rising linearly from 0 at the first block to this value at the last.",
)


class DropPath(nn.Module):
    """Zero a whole residual branch for a random subset of samples (training only), rescaling the rest."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), device=x.device, dtype=x.dtype) >= self.p
        return x * keep / (1.0 - self.p)


def drop_path_rates(peak: float, blocks: int) -> list[float]:
    """Per-block stochastic depth rates, linear from 0 to `peak`."""
    if blocks <= 1:
        return [peak] * blocks
    return [peak * i / (blocks - 1) for i in range(blocks)]
