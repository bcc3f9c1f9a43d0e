"""Input normalization: the first layer of every classifier."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..knobs import Choice, Options, knob

INPUT_NORM = knob(
    "input_norm", bucket="optimization", default="standardize", baseline="scale",
    valid=Options(("standardize", "scale")), search=Choice(("standardize", "scale")),
    doc="standardize: per-channel zero mean, unit variance from the training images; scale: pixels in [0, 1].",
)


class Normalize(nn.Module):
    """(x - mean) / std per channel, for images in [0, 1]; mean and std are saved with the model."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(1, channels, 1, 1))
        self.register_buffer("std", torch.ones(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def fit(self, section, images: np.ndarray) -> None:
        """Set the statistics from uint8 (N, C, H, W) training images, as the recipe asks."""
        if section.input_norm == "scale":
            return
        sample = images[:: max(1, len(images) // 10_000)].astype(np.float64) / 255.0
        mean = sample.mean(axis=(0, 2, 3))
        std = sample.std(axis=(0, 2, 3)) + 1e-6
        self.mean.copy_(torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.std.copy_(torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
