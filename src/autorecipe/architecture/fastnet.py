"""A fast small network for quick runs, after the fastest CIFAR-10 recipes (airbench, Jordan 2024).

A stem, then three groups of conv - pool - norm - activation followed by more conv-norm-
activation layers, then a max-pooled linear head. Honours depth, activation, pooling,
normalization, stem_stride, head and flattened.
"""

from __future__ import annotations

from torch import nn

from .registry import ModelSpec, register
from .blocks import Parts, channels, repeats

GROUPS = (64, 256, 256)  # channels of the three groups at width 1
STEM = 24  # stem channels at width 1 (airbench's 2x2 whitening layer has 24)


def group(parts: Parts, c_in: int, c_out: int, convs: int) -> nn.Sequential:
    """conv, 2x pool, norm, activation; then (convs - 1) conv-norm-activation layers."""
    layers: list[nn.Module] = [parts.conv(c_in, c_out, 3, bias=parts.normalization == "none"), parts.pool(c_out),
                               *parts.norm_act(c_out)]
    layers += [parts.conv_norm_act(c_out, c_out) for _ in range(convs - 1)]
    return nn.Sequential(*layers)


@register("fastnet", knobs=("depth", "activation", "pooling", "normalization", "stem_stride", "head", "flattened"),
          sgd_lr=0.4, search_rank=1)  # its class scores are scaled down, so it trains at 4x the usual lr
def fastnet(spec: ModelSpec) -> nn.Module:
    """Stem and three conv-pool groups of two convolutions each (64, 256, 256 channels at width 1)."""
    parts = Parts.of(spec, activation="gelu", head="max")
    c_in = channels(STEM, spec.width)
    layers: list[nn.Module] = [parts.stem(spec.in_channels, c_in, spec)]
    for base in GROUPS:
        c_out = channels(base, spec.width)
        layers.append(group(parts, c_in, c_out, repeats(2, spec.depth)))
        c_in = c_out
    layers.append(parts.head(c_in, spec.num_classes, logit_scale=1 / 9))
    return nn.Sequential(*layers)
