"""DenseNet-BC (Huang et al., 2017): bottleneck dense layers and compressing transitions.

`densenet_bc` is the CIFAR design (L=100, growth 12, three blocks); `densenet121` the
ImageNet one (growth 32, blocks of 6, 12, 24, 16). Width scales the growth rate. Honours
depth, activation, pooling (in transitions), normalization, stem_stride, head and flattened.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import ModelSpec, register
from .blocks import Parts, repeats

DENSE_KNOBS = ("depth", "activation", "pooling", "normalization", "stem_stride", "head", "flattened")


class DenseLayer(nn.Module):
    """norm-act-1x1 (4 x growth), norm-act-3x3 (growth); the output is concatenated to the input."""

    def __init__(self, parts: Parts, c_in: int, growth: int):
        super().__init__()
        self.body = nn.Sequential(*parts.norm_act(c_in), parts.conv(c_in, 4 * growth, 1),
                                  parts.norm(4 * growth), parts.act(), parts.conv(4 * growth, growth, 3))

    def forward(self, x):
        return torch.cat([x, self.body(x)], 1)


def densenet(spec: ModelSpec, growth: int, blocks: tuple[int, ...], pool: str) -> nn.Sequential:
    """Stem (2 x growth channels), dense blocks separated by halving transitions, final norm-act, head."""
    parts = Parts.of(spec, pooling=pool)
    k = max(4, int(round(growth * spec.width)))
    c = 2 * k
    layers: list[nn.Module] = [parts.stem(spec.in_channels, c, spec)]
    for i, count in enumerate(blocks):
        for _ in range(repeats(count, spec.depth)):
            layers.append(DenseLayer(parts, c, k))
            c += k
        if i < len(blocks) - 1:
            layers.append(nn.Sequential(*parts.norm_act(c), parts.conv(c, c // 2, 1), parts.pool(c // 2)))
            c //= 2
    layers += [parts.norm_act(c), parts.head(c, spec.num_classes)]
    return nn.Sequential(*layers)


@register("densenet_bc", knobs=DENSE_KNOBS)
def densenet_bc(spec: ModelSpec) -> nn.Module:
    """DenseNet-BC-100, growth rate 12: three blocks of 16 bottleneck layers (0.8M parameters)."""
    return densenet(spec, 12, (16, 16, 16), "avg")


@register("densenet121", knobs=DENSE_KNOBS)
def densenet121(spec: ModelSpec) -> nn.Module:
    """DenseNet-121, growth rate 32: blocks of 6, 12, 24 and 16 layers (8.0M parameters)."""
    return densenet(spec, 32, (6, 12, 24, 16), "avg")
