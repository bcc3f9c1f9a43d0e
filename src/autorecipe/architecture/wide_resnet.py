"""Wide ResNets (Zagoruyko & Komodakis, 2016): WRN-d-k, pre-activation blocks of 16k, 32k, 64k channels.

WRN-28-2 is the semi-supervised standard. Honours depth, activation, normalization,
stem_stride, squeeze_excite, head and flattened.
"""

from __future__ import annotations

from torch import nn

from .registry import ModelSpec, register
from .blocks import Parts, channels, repeats
from .preact_resnet import PREACT_KNOBS, preact_stages


def wide_resnet(spec: ModelSpec, depth: int, k: int) -> nn.Module:
    """WRN-depth-k: (depth - 4) / 6 blocks in each of three stages."""
    widths = [channels(16, spec.width)] + [channels(base * k, spec.width) for base in (16, 32, 64)]
    blocks = [repeats((depth - 4) // 6, spec.depth)] * 3
    return preact_stages(Parts.of(spec), spec, widths, blocks, [1, 2, 2])


@register("wrn28_2", knobs=PREACT_KNOBS)
def wrn28_2(spec: ModelSpec) -> nn.Module:
    """WRN-28-2 (1.5M parameters)."""
    return wide_resnet(spec, 28, 2)


@register("wrn28_10", knobs=PREACT_KNOBS)
def wrn28_10(spec: ModelSpec) -> nn.Module:
    """WRN-28-10 (36.5M parameters)."""
    return wide_resnet(spec, 28, 10)


@register("wrn16_4", knobs=PREACT_KNOBS, search_rank=4)
def wrn16_4(spec: ModelSpec) -> nn.Module:
    """WRN-16-4 (2.7M parameters), a quick wide network."""
    return wide_resnet(spec, 16, 4)
