"""An Inception-style network (GoogLeNet, Szegedy et al., 2015): parallel 1x1, 3x3, 5x5 and pooling branches.

Each module concatenates a 1x1 branch, 1x1-reduced 3x3 and 5x5 branches, and a 3x3 max pool
followed by a 1x1 projection. Honours depth, activation, pooling (between stages),
normalization, stem_stride, head and flattened.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import ModelSpec, register
from .blocks import LARGE_IMAGE, Parts, channels, repeats

# (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool projection) of each module, stage by stage (GoogLeNet 3a-5b).
STAGES = (
    ((64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64)),
    ((192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64),
     (112, 144, 288, 32, 64, 64), (256, 160, 320, 32, 128, 128)),
    ((256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)),
)


class InceptionModule(nn.Module):
    """Four parallel branches, concatenated along channels."""

    def __init__(self, parts: Parts, c_in: int, sizes: tuple[int, ...]):
        super().__init__()
        n1, r3, n3, r5, n5, pool = sizes
        self.branches = nn.ModuleList([
            parts.conv_norm_act(c_in, n1, 1),
            nn.Sequential(parts.conv_norm_act(c_in, r3, 1), parts.conv_norm_act(r3, n3, 3)),
            nn.Sequential(parts.conv_norm_act(c_in, r5, 1), parts.conv_norm_act(r5, n5, 5)),
            nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), parts.conv_norm_act(c_in, pool, 1)),
        ])
        self.c_out = n1 + n3 + n5 + pool

    def forward(self, x):
        return torch.cat([branch(x) for branch in self.branches], 1)


@register("inception", knobs=("depth", "activation", "pooling", "normalization", "stem_stride", "head",
                                "flattened"))
def inception(spec: ModelSpec) -> nn.Module:
    """GoogLeNet's nine inception modules in three stages, with pooling between stages."""
    parts = Parts.of(spec)
    c_in = channels(192, spec.width)
    layers: list[nn.Module] = [parts.stem(spec.in_channels, c_in, spec)]
    if spec.image_size >= LARGE_IMAGE:
        layers.append(parts.pool(c_in))  # GoogLeNet reaches its first module 8x smaller
    for stage, modules in enumerate(STAGES):
        if stage > 0:
            layers.append(parts.pool(c_in))
        count = repeats(len(modules), spec.depth)
        for i in range(count):
            sizes = modules[min(i, len(modules) - 1)]
            module = InceptionModule(parts, c_in, tuple(channels(n, spec.width) for n in sizes))
            layers.append(module)
            c_in = module.c_out
    layers.append(parts.head(c_in, spec.num_classes))
    return nn.Sequential(*layers)
