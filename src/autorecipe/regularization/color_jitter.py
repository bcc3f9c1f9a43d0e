"""Colour jitter: per-image brightness, contrast, saturation and hue, in batches on the device."""

from __future__ import annotations

import torch
from torch import nn

from ..knobs import Interval, Uniform, knob

COLOR_JITTER = knob(
    "color_jitter", bucket="regularization", default=0.0, baseline=0.0, valid=Interval(float, 0.0, 1.0),
    search=Uniform(0.0, 0.5),
    doc="Colour jitter strength s: brightness, contrast and saturation scaled by 1 +- up to s, hue turned "
        "by up to s/4 of a circle; 0 = off.",
)

_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


class ColorJitter(nn.Module):
    """Per-image colour jitter as batched arithmetic on float images in [0, 1].

    kornia's ColorJitter goes through HSV and takes longer than a whole training step on a
    CPU; here hue turns the chroma plane of YIQ, one 3x3 matrix per image.
    """

    def __init__(self, strength: float):
        super().__init__()
        self.strength = strength

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, s = x.shape[0], self.strength

        def factor() -> torch.Tensor:
            return 1.0 + (torch.rand(n, 1, 1, 1, device=x.device) * 2 - 1) * s

        x = x * factor()
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * factor() + mean
        if x.shape[1] == 3:
            gray = (x * x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
            x = (x - gray) * factor() + gray
            x = turn_hue(x, (torch.rand(n, device=x.device) * 2 - 1) * (s / 4) * 2 * torch.pi)
        return x.clamp(0.0, 1.0)


def turn_hue(x: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate each RGB image's chroma by `angle` (N,) radians in YIQ space."""
    to_yiq = _RGB_TO_YIQ.to(x.device)
    cos, sin = angle.cos(), angle.sin()
    turn = torch.zeros(len(angle), 3, 3, device=x.device)
    turn[:, 0, 0] = 1.0
    turn[:, 1, 1], turn[:, 1, 2], turn[:, 2, 1], turn[:, 2, 2] = cos, -sin, sin, cos
    matrix = torch.linalg.inv(to_yiq) @ turn @ to_yiq
    return torch.einsum("nij,njhw->nihw", matrix, x)
