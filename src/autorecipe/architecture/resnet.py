"""Residual networks for small and large images: ResNet-9 (the DAWNBench CIFAR-10 design) and ResNet-18."""

from __future__ import annotations

from torch import nn

from . import ModelSpec, register
from ..regularization.dropout import DropPath, drop_path_rates
from .blocks import Residual, channels, conv_bn_act, head, stem


@register("resnet9")
def resnet9(spec: ModelSpec) -> nn.Module:
    """Three stages of conv-pool, the first and last with a two-conv residual branch (Myrtle.ai, 2018)."""
    c = [channels(n, spec.width) for n in (64, 128, 256, 512)]
    rates = drop_path_rates(spec.drop_path, 2)
    return nn.Sequential(
        stem(spec.in_channels, c[0], spec.image_size),
        conv_bn_act(c[0], c[1]), nn.MaxPool2d(2, ceil_mode=True),
        Residual(nn.Sequential(conv_bn_act(c[1], c[1]), conv_bn_act(c[1], c[1])), rates[0]),
        conv_bn_act(c[1], c[2]), nn.MaxPool2d(2, ceil_mode=True),
        conv_bn_act(c[2], c[3]), nn.MaxPool2d(2, ceil_mode=True),
        Residual(nn.Sequential(conv_bn_act(c[3], c[3]), conv_bn_act(c[3], c[3])), rates[1]),
        head(c[3], spec.num_classes, spec.dropout, pool="max"),
    )


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or 1x1 projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int, drop_path: float = 0.0):
        super().__init__()
        self.body = nn.Sequential(
            conv_bn_act(c_in, c_out, 3, stride),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        self.drop_path = DropPath(drop_path)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.drop_path(self.body(x)) + self.shortcut(x))


@register("resnet18")
def resnet18(spec: ModelSpec) -> nn.Module:
    """ResNet-18 (He et al., 2016), with a 3x3 stem for small images."""
    widths = [channels(n, spec.width) for n in (64, 128, 256, 512)]
    rates = iter(drop_path_rates(spec.drop_path, 2 * len(widths)))
    layers: list[nn.Module] = [stem(spec.in_channels, widths[0], spec.image_size)]
    c_in = widths[0]
    for i, c_out in enumerate(widths):
        layers += [BasicBlock(c_in, c_out, 1 if i == 0 else 2, next(rates)), BasicBlock(c_out, c_out, 1, next(rates))]
        c_in = c_out
    layers.append(head(c_in, spec.num_classes, spec.dropout))
    return nn.Sequential(*layers)
