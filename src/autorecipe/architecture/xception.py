"""An Xception-style network (Chollet, 2017): depthwise separable convolutions in residual blocks.

Entry flow (blocks of 128, 256 and 728 channels), a middle flow of 8 residual blocks, and
an exit flow up to 2048 channels. For small images the stem and the first entry block keep
the resolution (8x smaller in all instead of 32x). Honours depth, activation, pooling,
normalization, stem_stride, head and flattened (stem convolutions).
"""

from __future__ import annotations

from torch import nn

from .registry import ModelSpec, register
from .blocks import (
    LARGE_IMAGE, DropPath, Parts, channels, drop_path_rates, mark_residual_end, repeats, small_stem_stride,
)
from .resnet import shortcut


def separable(parts: Parts, c_in: int, c_out: int) -> nn.Sequential:
    """Depthwise 3x3 then pointwise 1x1 convolution, normalized."""
    return nn.Sequential(parts.conv(c_in, c_in, 3, groups=c_in), parts.conv(c_in, c_out, 1), parts.norm(c_out))


class XceptionBlock(nn.Module):
    """(activation, separable conv) repeated, then 2x pooling when downsampling; a residual shortcut."""

    def __init__(self, parts: Parts, c_in: int, c_out: int, reps: int, downsample: bool, drop_path: float):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(reps):
            layers += [parts.act(inplace=i > 0), separable(parts, c_in if i == 0 else c_out, c_out)]
        if downsample:
            layers.append(parts.pool(c_out))
        self.body = mark_residual_end(nn.Sequential(*layers))
        self.shortcut = shortcut(parts, c_in, c_out, 2 if downsample else 1)
        self.drop_path = DropPath(drop_path)

    def forward(self, x):
        return self.shortcut(x) + self.drop_path(self.body(x))


@register("xception", knobs=("depth", "activation", "pooling", "normalization", "stem_stride", "head", "flattened"))
def xception(spec: ModelSpec) -> nn.Module:
    """Xception: entry, middle (8 blocks at width 1 depth 1) and exit flows."""
    parts = Parts.of(spec)
    w = [channels(n, spec.width) for n in (32, 64, 128, 256, 728, 1024, 1536, 2048)]
    middle = repeats(8, spec.depth)
    rates = iter(drop_path_rates(spec.drop_path, 4 + middle))
    large = spec.image_size >= LARGE_IMAGE
    layers: list[nn.Module] = [parts.conv_norm_act(spec.in_channels, w[0], 3, small_stem_stride(spec)),
                               parts.conv_norm_act(w[0], w[1], 3)]
    layers += [XceptionBlock(parts, w[1], w[2], 2, large, next(rates)),
               XceptionBlock(parts, w[2], w[3], 2, True, next(rates)),
               XceptionBlock(parts, w[3], w[4], 2, True, next(rates))]
    layers += [XceptionBlock(parts, w[4], w[4], 3, False, next(rates)) for _ in range(middle)]
    layers += [XceptionBlock(parts, w[4], w[5], 2, True, next(rates)),
               nn.Sequential(separable(parts, w[5], w[6]), parts.act(), separable(parts, w[6], w[7]), parts.act()),
               parts.head(w[7], spec.num_classes)]
    return nn.Sequential(*layers)
