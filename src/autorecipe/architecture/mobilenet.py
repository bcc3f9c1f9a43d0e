"""MobileNetV2 (Sandler et al., 2018) and MobileNetV3-small (Howard et al., 2019): inverted residuals.

For small images the stem and the first strided stage keep the resolution (8x smaller in
all instead of 32x). Honour depth, activation, normalization, stem_stride, squeeze_excite,
head and flattened (the stem).
"""

from __future__ import annotations

from torch import nn

from .registry import ModelSpec, register
from .blocks import (
    LARGE_IMAGE, DropPath, Parts, SqueezeExcite, drop_path_rates, mark_residual_end, repeats, small_stem_stride,
)

MOBILE_KNOBS = ("depth", "activation", "normalization", "stem_stride", "squeeze_excite", "head", "flattened")


def divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of `divisor`, never below 90% of it (the MobileNet rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class InvertedResidual(nn.Module):
    """1x1 expansion, kxk depthwise (strided), optional squeeze-excite, linear 1x1 projection."""

    def __init__(self, parts: Parts, c_in: int, c_out: int, kernel: int, stride: int, expanded: int,
                 act: nn.Module | None = None, se: nn.Module | None = None, drop_path: float = 0.0):
        super().__init__()
        act = act or parts.act()
        layers: list[nn.Module] = []
        if expanded != c_in:
            layers += [parts.conv(c_in, expanded, 1), parts.norm(expanded), act]
        layers += [parts.conv(expanded, expanded, kernel, stride, groups=expanded), parts.norm(expanded), act,
                   se or nn.Identity(), parts.conv(expanded, c_out, 1), parts.norm(c_out)]
        self.residual = stride == 1 and c_in == c_out
        self.body = mark_residual_end(nn.Sequential(*layers)) if self.residual else nn.Sequential(*layers)
        self.drop_path = DropPath(drop_path)

    def forward(self, x):
        return x + self.drop_path(self.body(x)) if self.residual else self.body(x)


def first_strides(spec: ModelSpec, strides: list[int]) -> list[int]:
    """Block strides, with the first strided block kept at stride 1 for small images."""
    if spec.image_size >= LARGE_IMAGE or 2 not in strides:
        return strides
    strides = list(strides)
    strides[strides.index(2)] = 1
    return strides


# MobileNetV2 stages: (expansion, channels, blocks, stride)
V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
             (6, 320, 1, 1))


@register("mobilenetv2", knobs=MOBILE_KNOBS, search_rank=5)
def mobilenetv2(spec: ModelSpec) -> nn.Module:
    """MobileNetV2 with ReLU6 replaced by the activation knob's choice (ReLU by default)."""
    parts = Parts.of(spec)
    c_in = divisible(32 * spec.width)
    blocks = [(t, divisible(c * spec.width), s if i == 0 else 1)
              for t, c, n, s in V2_STAGES for i in range(repeats(n, spec.depth))]
    strides = first_strides(spec, [s for _, _, s in blocks])
    rates = iter(drop_path_rates(spec.drop_path, len(blocks)))
    layers: list[nn.Module] = [parts.conv_norm_act(spec.in_channels, c_in, 3, small_stem_stride(spec))]
    for (t, c_out, _), stride in zip(blocks, strides):
        se = parts.se(c_in * t, c_in * t // 4)
        layers.append(InvertedResidual(parts, c_in, c_out, 3, stride, c_in * t, se=se, drop_path=next(rates)))
        c_in = c_out
    last = divisible(1280 * max(1.0, spec.width))
    layers += [parts.conv_norm_act(c_in, last, 1), parts.head(last, spec.num_classes)]
    return nn.Sequential(*layers)


# MobileNetV3-small blocks: (kernel, expanded, channels, squeeze-excite, hard-swish, stride)
V3_SMALL = ((3, 16, 16, True, False, 2), (3, 72, 24, False, False, 2), (3, 88, 24, False, False, 1),
            (5, 96, 40, True, True, 2), (5, 240, 40, True, True, 1), (5, 240, 40, True, True, 1),
            (5, 120, 48, True, True, 1), (5, 144, 48, True, True, 1), (5, 288, 96, True, True, 2),
            (5, 576, 96, True, True, 1), (5, 576, 96, True, True, 1))


@register("mobilenetv3_small", knobs=MOBILE_KNOBS)
def mobilenetv3_small(spec: ModelSpec) -> nn.Module:
    """MobileNetV3-small: ReLU early and hard-swish late (auto), squeeze-excite where published (auto)."""
    arch = spec.arch
    parts = Parts.of(spec, activation="hardswish", squeeze_excite=True)

    def act(hard: bool) -> nn.Module:
        return nn.ReLU(inplace=True) if arch.activation == "auto" and not hard else parts.act()

    stage = {}  # repeat each group of equal output channels `depth` times
    for row in V3_SMALL:
        stage.setdefault(row[2], []).append(row)
    rows = [rs[min(i, len(rs) - 1)] for rs in stage.values() for i in range(repeats(len(rs), spec.depth))]
    rows = [r if i == 0 or r[2] != rows[i - 1][2] else r[:5] + (1,) for i, r in enumerate(rows)]
    strides = first_strides(spec, [r[5] for r in rows])
    rates = iter(drop_path_rates(spec.drop_path, len(rows)))
    c_in = divisible(16 * spec.width)
    layers: list[nn.Module] = [nn.Sequential(parts.conv(spec.in_channels, c_in, 3, small_stem_stride(spec)),
                                             parts.norm(c_in), act(True))]
    for (kernel, expanded, c, se, hard, _), stride in zip(rows, strides):
        expanded, c_out = divisible(expanded * spec.width), divisible(c * spec.width)
        use_se = se if arch.squeeze_excite == "auto" else parts.squeeze_excite
        gate = SqueezeExcite(expanded, divisible(expanded / 4), nn.ReLU(inplace=True), nn.Hardsigmoid()) \
            if use_se else None
        layers.append(InvertedResidual(parts, c_in, c_out, kernel, stride, expanded, act(hard), gate, next(rates)))
        c_in = c_out
    last = divisible(576 * spec.width)
    layers.append(nn.Sequential(parts.conv(c_in, last, 1), parts.norm(last), act(True)))
    if parts.head_kind == "fullconv":
        layers.append(parts.head(last, spec.num_classes))
    else:
        pool = nn.AdaptiveMaxPool2d(1) if parts.head_kind == "max" else nn.AdaptiveAvgPool2d(1)
        hidden = divisible(1024 * spec.width)
        layers.append(nn.Sequential(pool, nn.Flatten(), nn.Linear(last, hidden), act(True),
                                    nn.Dropout(spec.dropout), nn.Linear(hidden, spec.num_classes)))
    return nn.Sequential(*layers)
