"""A ConvNeXt-tiny-style network (Liu et al., 2022): 7x7 depthwise blocks with inverted MLPs and layer scale.

Stages of 96, 192, 384, 768 channels with 3, 3, 9, 3 blocks. The ImageNet stem patchifies
4x4; small images get a 3x3 stem at `stem_stride`. Honours depth, activation,
normalization, stem_stride and head.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .registry import ModelSpec, register
from .blocks import LARGE_IMAGE, DropPath, Parts, channels, drop_path_rates, mark_residual_end, repeats

LAYER_SCALE = 1e-6  # initial scale of each block's output (ConvNeXt's layer scale)


class ConvNeXtBlock(nn.Module):
    """depthwise 7x7, norm, 1x1 to 4x channels, activation, 1x1 back, scaled, added to the input."""

    def __init__(self, parts: Parts, c: int, drop_path: float):
        super().__init__()
        self.body = mark_residual_end(nn.Sequential(
            nn.Conv2d(c, c, 7, padding=3, groups=c), parts.norm(c), nn.Conv2d(c, 4 * c, 1), parts.act(),
            nn.Conv2d(4 * c, c, 1)))
        self.scale = nn.Parameter(torch.full((1, c, 1, 1), LAYER_SCALE))
        self.drop_path = DropPath(drop_path)

    def forward(self, x):
        return x + self.drop_path(self.scale * self.body(x))


class Downsample(nn.Module):
    """Norm, then a 2x2 stride-2 convolution (odd sides padded at the end)."""

    def __init__(self, parts: Parts, c_in: int, c_out: int):
        super().__init__()
        self.norm = parts.norm(c_in)
        self.conv = nn.Conv2d(c_in, c_out, 2, stride=2)

    def forward(self, x):
        x = self.norm(x)
        return self.conv(F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2)))


@register("convnext_tiny", knobs=("depth", "activation", "normalization", "stem_stride", "head"))
def convnext_tiny(spec: ModelSpec) -> nn.Module:
    """ConvNeXt-T: four stages separated by norm + 2x2 stride-2 convolutions."""
    parts = Parts.of(spec, activation="gelu", normalization="layer")
    dims = [channels(n, spec.width) for n in (96, 192, 384, 768)]
    counts = [repeats(n, spec.depth) for n in (3, 3, 9, 3)]
    rates = iter(drop_path_rates(spec.drop_path, sum(counts)))
    if spec.image_size >= LARGE_IMAGE:
        stem = nn.Sequential(nn.Conv2d(spec.in_channels, dims[0], 4, stride=4), parts.norm(dims[0]))
    else:
        stem = nn.Sequential(nn.Conv2d(spec.in_channels, dims[0], 3, spec.arch.stem_stride, 1), parts.norm(dims[0]))
    layers: list[nn.Module] = [stem]
    for i, (c, count) in enumerate(zip(dims, counts)):
        if i > 0:
            layers.append(Downsample(parts, dims[i - 1], c))
        layers += [ConvNeXtBlock(parts, c, next(rates)) for _ in range(count)]
    layers += [parts.norm(dims[-1]), parts.head(dims[-1], spec.num_classes)]
    return nn.Sequential(*layers)
