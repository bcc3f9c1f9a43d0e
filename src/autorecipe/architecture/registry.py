"""The model registry: one entry a zoo model, holding every fact about it.

Every zoo network is an `nn.Sequential` of layers in depth order (stem, blocks, head), the
head last: transfer learning freezes and scales learning rates along that order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import nn

if TYPE_CHECKING:
    from ..recipe import Section

DEFAULT_SGD_LR = 0.1  # the usual CIFAR/ImageNet value (0.1 for a batch of 128-256, with warmup: 0.1 for 512 is safe)


@dataclass(frozen=True)
class ModelSpec:
    """What a builder needs: the data's shape, the architecture knobs, and the in-model regularizers."""

    num_classes: int
    in_channels: int
    image_size: int
    arch: Section
    dropout: float = 0.0
    drop_path: float = 0.0

    @property
    def width(self) -> float:
        return self.arch.width

    @property
    def depth(self) -> float:
        return self.arch.depth


Builder = Callable[[ModelSpec], nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    """A zoo model: its builder, the family-specific knobs it applies (width and colour_stem apply to
    every zoo model, and are not listed), its peak SGD learning rate
    for a batch of 512 (what an automatic lr gives it), and its place among the search's choices."""

    name: str
    builder: Builder
    knobs: tuple[str, ...] = ()
    sgd_lr: float = DEFAULT_SGD_LR
    search_rank: int | None = None


MODELS: dict[str, ModelEntry] = {}


def register(name: str, knobs: tuple[str, ...] = (), sgd_lr: float = DEFAULT_SGD_LR,
             search_rank: int | None = None) -> Callable[[Builder], Builder]:
    """Decorator: make a builder reachable by name from recipes, the CLI, Python and the search.

    `search_rank`: the model's place among the search's choices (the search tries families that
    train well in a short CPU budget at 28-64 px; a resumed search needs its choices in the same
    order); None: the search leaves it out.
    """
    def add(builder: Builder) -> Builder:
        MODELS[name] = ModelEntry(name, builder, tuple(knobs), sgd_lr, search_rank)
        return builder
    return add


def sgd_lr(model: str) -> float:
    """The model's peak SGD learning rate for a batch of 512 (user and timm models: the usual 0.1)."""
    entry = MODELS.get(model)
    return entry.sgd_lr if entry is not None else DEFAULT_SGD_LR


def honoured_by(knob_name: str) -> list[str]:
    """The zoo models that apply a family-specific knob."""
    return [name for name, entry in MODELS.items() if knob_name in entry.knobs]
