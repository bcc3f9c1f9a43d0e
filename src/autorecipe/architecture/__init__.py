"""The architecture bucket: a registry of model families, built by name from a recipe."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import nn

from ..knobs import Choice, Uniform, knob

if TYPE_CHECKING:
    from ..recipe import Recipe, Section


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


Builder = Callable[[ModelSpec], nn.Module]
MODELS: dict[str, Builder] = {}


def register(name: str) -> Callable[[Builder], Builder]:
    """Decorator: make a builder reachable by name from recipes, the CLI and Python."""
    def add(builder: Builder) -> Builder:
        MODELS[name] = builder
        return builder
    return add


from . import resnet  # noqa: E402  (registers its families)

MODEL = knob(
    "model", bucket="architecture", default="resnet9", baseline="resnet9", choices=tuple(MODELS),
    search=Choice(tuple(MODELS)),
    doc="The network family, by name.",
)
WIDTH = knob(
    "width", bucket="architecture", default=0.5, baseline=0.5, low=0.0625, high=8.0,
    search=Uniform(0.25, 2.0, log=True),
    doc="Multiplier on every layer's channel count.",
)


def build(recipe: Recipe, num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """Build the recipe's network for `num_classes` outputs and (in_channels, size, size) inputs."""
    reg = recipe.regularization
    spec = ModelSpec(num_classes, in_channels, image_size, recipe.architecture, reg.dropout, reg.drop_path)
    return MODELS[recipe.architecture.model](spec)
