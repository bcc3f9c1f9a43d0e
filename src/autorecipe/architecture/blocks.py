"""Building blocks shared by the model families."""

from __future__ import annotations

from torch import nn

from ..regularization.dropout import DropPath

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
    """x + f(x), with f skipped at random in training when drop_path > 0 (stochastic depth)."""

    def __init__(self, body: nn.Module, drop_path: float = 0.0):
        super().__init__()
        self.body = body
        self.drop_path = DropPath(drop_path)

    def forward(self, x):
        return x + self.drop_path(self.body(x))


def head(c_in: int, num_classes: int, dropout: float, pool: str = "avg") -> nn.Sequential:
    """Global pooling ("avg" or "max"), dropout, then the linear classifier."""
    pooling = nn.AdaptiveMaxPool2d(1) if pool == "max" else nn.AdaptiveAvgPool2d(1)
    return nn.Sequential(pooling, nn.Flatten(), nn.Dropout(dropout), nn.Linear(c_in, num_classes))
