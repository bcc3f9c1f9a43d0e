"""Random erasing and cutout: blank part of each training image."""

from __future__ import annotations

import torch
from torch import nn

from ..knobs import Interval, Uniform, knob

RANDOM_ERASING = knob(
    "random_erasing", bucket="regularization", default=0.0, baseline=0.0, valid=Interval(float, 0.0, 1.0),
    search=Uniform(0.0, 0.5),
    doc="Random erasing (Zhong et al., 2020): probability of blanking a random rectangle of 2-33% of "
        "the image (kornia); 0 = off.",
)
CUTOUT = knob(
    "cutout", bucket="regularization", default=0.0, baseline=0.0, valid=Interval(float, 0.0, 1.0),
    search=Uniform(0.0, 0.5),
    doc="Cutout (DeVries & Taylor, 2017): zero a square of this fraction of the image side around a random "
        "centre (it may overhang the border) in every image; 0 = off.",
)


class Cutout(nn.Module):
    """Zero one square per image, its side `fraction` of the image's, centred anywhere in the image."""

    def __init__(self, fraction: float):
        super().__init__()
        self.fraction = fraction

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        cy = torch.rand(n, 1, 1, device=x.device) * h
        cx = torch.rand(n, 1, 1, device=x.device) * w
        rows = torch.arange(h, device=x.device).view(1, h, 1) + 0.5
        cols = torch.arange(w, device=x.device).view(1, 1, w) + 0.5
        inside = ((rows - cy).abs() < self.fraction * h / 2) & ((cols - cx).abs() < self.fraction * w / 2)
        return x.masked_fill(inside.unsqueeze(1), 0.0)
