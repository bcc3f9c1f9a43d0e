"""Pre-activation ResNet-18 (He et al., 2016b): norm and activation before each convolution.

Honours depth, activation, normalization, stem_stride, squeeze_excite, head and flattened.
"""

from __future__ import annotations

from torch import nn

from .registry import ModelSpec, register
from .blocks import LARGE_IMAGE, DropPath, Parts, channels, drop_path_rates, mark_residual_end, repeats

PREACT_KNOBS = ("depth", "activation", "normalization", "stem_stride", "squeeze_excite", "head", "flattened")


class PreActBlock(nn.Module):
    """norm-act-conv twice; the shortcut (a 1x1 projection when shapes change) takes the pre-activated input."""

    def __init__(self, parts: Parts, c_in: int, c_out: int, stride: int, drop_path: float = 0.0):
        super().__init__()
        self.pre = parts.norm_act(c_in)
        self.body = mark_residual_end(nn.Sequential(
            parts.conv(c_in, c_out, 3, stride), parts.norm(c_out), parts.act(), parts.conv(c_out, c_out, 3),
            parts.se(c_out, c_out // 16)))
        self.project = None if stride == 1 and c_in == c_out else parts.conv(c_in, c_out, 1, stride)
        self.drop_path = DropPath(drop_path)

    def forward(self, x):
        out = self.pre(x)
        skip = x if self.project is None else self.project(out)
        return skip + self.drop_path(self.body(out))


def stem_conv(parts: Parts, spec: ModelSpec, c_out: int) -> nn.Module:
    """A bare 3x3 convolution for small images (pre-activation blocks normalize next); the ImageNet stem otherwise."""
    if spec.image_size < LARGE_IMAGE:
        return parts.conv(spec.in_channels, c_out, 3, spec.arch.stem_stride)
    return parts.stem(spec.in_channels, c_out, spec)


def preact_stages(parts: Parts, spec: ModelSpec, widths: list[int], blocks: list[int], strides: list[int]
                  ) -> nn.Sequential:
    """Stem, pre-activation stages, the final norm-activation, and the head."""
    rates = iter(drop_path_rates(spec.drop_path, sum(blocks)))
    layers: list[nn.Module] = [stem_conv(parts, spec, widths[0])]
    c_in = widths[0]
    for c_out, count, stride in zip(widths[1:], blocks, strides):
        for i in range(count):
            layers.append(PreActBlock(parts, c_in, c_out, stride if i == 0 else 1, next(rates)))
            c_in = c_out
    layers += [parts.norm_act(c_in), parts.head(c_in, spec.num_classes)]
    return nn.Sequential(*layers)


@register("preact_resnet18", knobs=PREACT_KNOBS, search_rank=3)
def preact_resnet18(spec: ModelSpec) -> nn.Module:
    """Pre-activation ResNet-18: (2, 2, 2, 2) blocks of 64-512 channels."""
    widths = [channels(n, spec.width) for n in (64, 64, 128, 256, 512)]
    return preact_stages(Parts.of(spec), spec, widths, [repeats(2, spec.depth)] * 4, [1, 2, 2, 2])
