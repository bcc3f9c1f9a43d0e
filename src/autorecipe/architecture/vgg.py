"""VGG-11 and VGG-16 with batch norm (Simonyan & Zisserman, 2015), with a global-pooling head.

The 4096-wide fully connected layers of the ImageNet design are replaced by the head knob's
choice (as in the CIFAR variants). Honours depth, activation, pooling, normalization,
stem_stride, head and flattened.
"""

from __future__ import annotations

from torch import nn

from .registry import ModelSpec, register
from .blocks import LARGE_IMAGE, Parts, channels, repeats

VGG_KNOBS = ("depth", "activation", "pooling", "normalization", "stem_stride", "head", "flattened")
STAGES = {  # (channels, convolutions) per stage; each stage ends with 2x pooling
    "vgg11": ((64, 1), (128, 1), (256, 2), (512, 2), (512, 2)),
    "vgg16": ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)),
}


def vgg(spec: ModelSpec, stages: tuple[tuple[int, int], ...]) -> nn.Sequential:
    """Stages of 3x3 conv-norm-activation, each followed by pooling; the first conv strides for small images."""
    parts = Parts.of(spec)
    layers: list[nn.Module] = []
    c_in = spec.in_channels
    for stage, (base, count) in enumerate(stages):
        c_out = channels(base, spec.width)
        for i in range(repeats(count, spec.depth)):
            stride = spec.arch.stem_stride if stage == 0 and i == 0 and spec.image_size < LARGE_IMAGE else 1
            layers.append(parts.conv_norm_act(c_in, c_out, 3, stride))
            c_in = c_out
        layers.append(parts.pool(c_out))
    layers.append(parts.head(c_in, spec.num_classes))
    return nn.Sequential(*layers)


@register("vgg11", knobs=VGG_KNOBS, search_rank=6)
def vgg11(spec: ModelSpec) -> nn.Module:
    """VGG-11 with batch norm (configuration A)."""
    return vgg(spec, STAGES["vgg11"])


@register("vgg16", knobs=VGG_KNOBS)
def vgg16(spec: ModelSpec) -> nn.Module:
    """VGG-16 with batch norm (configuration D)."""
    return vgg(spec, STAGES["vgg16"])
