"""EfficientNet-B0 (Tan & Le, 2019): MBConv blocks with squeeze-excite and SiLU.

Width rounds channels to multiples of 8; depth multiplies each stage's blocks (rounded up).
For small images the stem and the first strided stage keep the resolution. Honours depth,
activation, normalization, stem_stride, squeeze_excite, head and flattened (the stem).
"""

from __future__ import annotations

import math

from torch import nn

from .registry import ModelSpec, register
from .blocks import Parts, SqueezeExcite, drop_path_rates, small_stem_stride
from .mobilenet import MOBILE_KNOBS, InvertedResidual, divisible, first_strides

# (expansion, kernel, stride, channels, blocks) of each stage
B0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
             (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))


@register("efficientnet_b0", knobs=MOBILE_KNOBS)
def efficientnet_b0(spec: ModelSpec) -> nn.Module:
    """EfficientNet-B0: 16 MBConv blocks, squeeze-excite at a quarter of each block's input channels."""
    parts = Parts.of(spec, activation="silu", squeeze_excite=True)
    blocks = [(t, k, s if i == 0 else 1, divisible(c * spec.width))
              for t, k, s, c, n in B0_STAGES for i in range(max(1, math.ceil(n * spec.depth)))]
    strides = first_strides(spec, [b[2] for b in blocks])
    rates = iter(drop_path_rates(spec.drop_path, len(blocks)))
    c_in = divisible(32 * spec.width)
    layers: list[nn.Module] = [parts.conv_norm_act(spec.in_channels, c_in, 3, small_stem_stride(spec))]
    for (t, kernel, _, c_out), stride in zip(blocks, strides):
        expanded = c_in * t
        se = SqueezeExcite(expanded, max(1, c_in // 4), parts.act()) if parts.squeeze_excite else None
        layers.append(InvertedResidual(parts, c_in, c_out, kernel, stride, expanded, se=se, drop_path=next(rates)))
        c_in = c_out
    last = divisible(1280 * spec.width)
    layers += [parts.conv_norm_act(c_in, last, 1), parts.head(last, spec.num_classes)]
    return nn.Sequential(*layers)
