"""The architecture bucket: a registry of model families, built by name from a recipe.

Every zoo network is an `nn.Sequential` of layers in depth order (stem, blocks, head), the
head last: transfer learning freezes and scales learning rates along that order.
"""

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

    @property
    def depth(self) -> float:
        return self.arch.depth


Builder = Callable[[ModelSpec], nn.Module]
MODELS: dict[str, Builder] = {}
HONOURS: dict[str, tuple[str, ...]] = {}  # model name -> the family-specific knobs its builder applies
SGD_LR: dict[str, float] = {}  # model name -> its peak SGD learning rate for a batch of 512 (lr: 0, auto)
DEFAULT_SGD_LR = 0.1  # the usual CIFAR/ImageNet value (0.1 for a batch of 128-256, with warmup: 0.1 for 512 is safe)
# Knobs that only some families apply; width, colour_stem and initialization apply to every zoo model.
FAMILY_KNOBS = ("depth", "activation", "pooling", "normalization", "stem_stride", "squeeze_excite", "head",
                "flattened", "patch_size")


def register(name: str, honours: tuple[str, ...], sgd_lr: float = DEFAULT_SGD_LR) -> Callable[[Builder], Builder]:
    """Decorator: make a builder reachable by name, listing the family-specific knobs it applies and
    the peak SGD learning rate (for a batch of 512) that an automatic lr gives it."""
    unknown = set(honours) - set(FAMILY_KNOBS)
    if unknown:
        raise ValueError(f"model {name}: {sorted(unknown)} are not family-specific knobs")

    def add(builder: Builder) -> Builder:
        MODELS[name] = builder
        HONOURS[name] = tuple(honours)
        SGD_LR[name] = sgd_lr
        return builder
    return add


def sgd_lr(model: str) -> float:
    """The architecture's peak SGD learning rate for a batch of 512 (user and timm models: the usual 0.1)."""
    return SGD_LR.get(model, DEFAULT_SGD_LR)


def honoured_by(knob_name: str) -> list[str]:
    """The zoo models that apply a family-specific knob."""
    return [name for name, knobs in HONOURS.items() if knob_name in knobs]


from . import (  # noqa: E402  (each registers its families)
    convnext, densenet, efficientnet, fastnet, inception, mobilenet, preact_resnet, resnet, vgg, vit,
    wide_resnet, xception,
)
from . import pretrained  # noqa: E402,F401  (declares the weights knob)
from .custom import CUSTOM_HELP, build_custom, call_factory, check_output, is_custom  # noqa: E402

# Families that train well in a short CPU budget at 28-64 px (the search's choices).
QUICK_MODELS = ("resnet9", "fastnet", "resnet18", "preact_resnet18", "wrn16_4", "mobilenetv2", "vgg11")

MODEL = knob(
    "model", bucket="architecture", default="resnet9", baseline="resnet9", choices=tuple(MODELS),
    search=Choice(QUICK_MODELS), other=(CUSTOM_HELP, is_custom),
    doc="The network family, by name; or your own as package.module:factory; or timm:<name> (needs timm).",
)
WIDTH = knob(
    "width", bucket="architecture", default=0.5, baseline=0.5, low=0.0625, high=8.0,
    search=Uniform(0.25, 2.0, log=True),
    doc="Multiplier on every layer's channel count (1 = the published widths).",
)


def build(recipe: Recipe, num_classes: int, in_channels: int, image_size: int,
          network: nn.Module | Callable | None = None) -> nn.Module:
    """Build the recipe's network for `num_classes` outputs and (in_channels, size, size) inputs.

    `network` is a module, or a factory, given to the Python API in place of the recipe's model.
    """
    from ..optimization.initialization import initialize
    arch, reg = recipe.architecture, recipe.regularization
    spec = ModelSpec(num_classes, in_channels, image_size, arch, reg.dropout, reg.drop_path)
    if isinstance(network, nn.Module):
        network = check_output(network, f"{type(network).__name__} object", spec)
    elif network is not None:
        network = call_factory(network, spec, getattr(network, "__qualname__", repr(network)))
    elif arch.model in MODELS:
        network = MODELS[arch.model](spec)
    else:
        network = build_custom(arch.model, spec)
    initialize(recipe.optimization, network)
    return network
