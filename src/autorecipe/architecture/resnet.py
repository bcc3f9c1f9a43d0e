"""Residual networks: ResNet-9 (the DAWNBench CIFAR-10 design) and ResNet-18/34/50 (He et al., 2016).

Honour depth, activation, normalization, stem_stride, squeeze_excite, head and flattened;
ResNet-9 also honours pooling (the others downsample by strided convolutions).
"""

from __future__ import annotations

from torch import nn

from .registry import ModelSpec, register
from .blocks import DropPath, Parts, Residual, channels, drop_path_rates, mark_residual_end, repeats

RESNET_KNOBS = ("depth", "activation", "normalization", "stem_stride", "squeeze_excite", "head", "flattened")
SE_REDUCTION = 16


@register("resnet9", knobs=RESNET_KNOBS + ("pooling",),
          sgd_lr=0.4, search_rank=0)  # its class scores are scaled down, so it trains at 4x the usual lr
def resnet9(spec: ModelSpec) -> nn.Module:
    """Three stages of conv-pool, the first and last with a two-conv residual branch (Myrtle.ai, 2018)."""
    parts = Parts.of(spec, head="max")
    c = [channels(n, spec.width) for n in (64, 128, 256, 512)]
    n = repeats(1, spec.depth)
    rates = iter(drop_path_rates(spec.drop_path, 2 * n))

    def residuals(width: int) -> list[nn.Module]:
        return [Residual(nn.Sequential(parts.conv_norm_act(width, width), parts.conv_norm_act(width, width),
                                       parts.se(width, width // SE_REDUCTION)), next(rates)) for _ in range(n)]

    return nn.Sequential(
        parts.stem(spec.in_channels, c[0], spec),
        parts.conv_norm_act(c[0], c[1]), parts.pool(c[1]),
        *residuals(c[1]),
        parts.conv_norm_act(c[1], c[2]), parts.pool(c[2]),
        parts.conv_norm_act(c[2], c[3]), parts.pool(c[3]),
        *residuals(c[3]),
        parts.head(c[3], spec.num_classes, logit_scale=0.125),
    )


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or 1x1 projection) shortcut."""

    def __init__(self, parts: Parts, c_in: int, c_out: int, stride: int, drop_path: float = 0.0):
        super().__init__()
        self.body = mark_residual_end(nn.Sequential(
            parts.conv_norm_act(c_in, c_out, 3, stride),
            parts.conv_norm_act(c_out, c_out, 3, act=False),
            parts.se(c_out, c_out // SE_REDUCTION)))
        self.shortcut = shortcut(parts, c_in, c_out, stride)
        self.drop_path = DropPath(drop_path)
        self.act = parts.act()

    def forward(self, x):
        return self.act(self.drop_path(self.body(x)) + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand to 4x the reduced width, with a projection shortcut when needed."""

    def __init__(self, parts: Parts, c_in: int, c_out: int, stride: int, drop_path: float = 0.0):
        super().__init__()
        mid = c_out // 4
        self.body = mark_residual_end(nn.Sequential(
            parts.conv_norm_act(c_in, mid, 1),
            parts.conv_norm_act(mid, mid, 3, stride),
            parts.conv_norm_act(mid, c_out, 1, act=False),
            parts.se(c_out, c_out // SE_REDUCTION)))
        self.shortcut = shortcut(parts, c_in, c_out, stride)
        self.drop_path = DropPath(drop_path)
        self.act = parts.act()

    def forward(self, x):
        return self.act(self.drop_path(self.body(x)) + self.shortcut(x))


def shortcut(parts: Parts, c_in: int, c_out: int, stride: int) -> nn.Module:
    """Identity when shapes match, else a strided 1x1 projection with normalization."""
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return nn.Sequential(parts.conv(c_in, c_out, 1, stride, bias=parts.normalization == "none"), parts.norm(c_out))


def resnet(spec: ModelSpec, block: type[nn.Module], blocks: tuple[int, ...], expansion: int) -> nn.Sequential:
    """A 4-stage ResNet: the stem (3x3 for small images, 7x7 + pooling for large), stages at strides 1,2,2,2."""
    parts = Parts.of(spec)
    counts = [repeats(n, spec.depth) for n in blocks]
    rates = iter(drop_path_rates(spec.drop_path, sum(counts)))
    c_in = channels(64, spec.width)
    layers: list[nn.Module] = [parts.stem(spec.in_channels, c_in, spec)]
    for stage, (base, count) in enumerate(zip((64, 128, 256, 512), counts)):
        c_out = channels(base * expansion, spec.width)
        for i in range(count):
            layers.append(block(parts, c_in, c_out, 2 if stage > 0 and i == 0 else 1, next(rates)))
            c_in = c_out
    layers.append(parts.head(c_in, spec.num_classes))
    return nn.Sequential(*layers)


@register("resnet18", knobs=RESNET_KNOBS, search_rank=2)
def resnet18(spec: ModelSpec) -> nn.Module:
    """ResNet-18: basic blocks (2, 2, 2, 2)."""
    return resnet(spec, BasicBlock, (2, 2, 2, 2), 1)


@register("resnet34", knobs=RESNET_KNOBS)
def resnet34(spec: ModelSpec) -> nn.Module:
    """ResNet-34: basic blocks (3, 4, 6, 3)."""
    return resnet(spec, BasicBlock, (3, 4, 6, 3), 1)


@register("resnet50", knobs=RESNET_KNOBS)
def resnet50(spec: ModelSpec) -> nn.Module:
    """ResNet-50: bottleneck blocks (3, 4, 6, 3), 4x expansion."""
    return resnet(spec, Bottleneck, (3, 4, 6, 3), 4)
