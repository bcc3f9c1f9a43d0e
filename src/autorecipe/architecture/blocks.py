"""Building blocks shared by the model families."""

from __future__ import annotations

from torch import nn

LARGE_IMAGE = 96  # from this side on, the stem downsamples by 4 as in ImageNet networks


def channels(base: int, width: float) -> int:
    """A layer's channel count after the width multiplier (at least 8)."""
    return max(8, int(round(base * width)))


def conv_bn_act(c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    """Convolution, batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def stem(c_in: int, c_out: int, image_size: int) -> nn.Sequential:
    """A 3x3 stem for small images; a 7x7 stride-2 stem with max pooling (4x smaller) for large ones."""
    if image_size < LARGE_IMAGE:
        return conv_bn_act(c_in, c_out, 3)
    return nn.Sequential(conv_bn_act(c_in, c_out, 7, stride=2), nn.MaxPool2d(3, stride=2, padding=1))


class Residual(nn.Module):
    """x + f(x)."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)
