"""The architecture bucket: model families registered by name (registry.py), built from a recipe."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from torch import nn

from ..knobs import Interval, Options, Registered, Uniform, knob
from .registry import MODELS, ModelSpec

if TYPE_CHECKING:
    from ..recipe import Recipe

from . import (  # noqa: E402  (each registers its families)
    convnext, densenet, efficientnet, fastnet, inception, mobilenet, preact_resnet, resnet, vgg, vit,
    wide_resnet, xception,
)
from . import pretrained  # noqa: E402,F401  (declares the weights knob)
from .custom import CUSTOM_HELP, build_custom, call_factory, check_output, is_custom  # noqa: E402

MODEL = knob(
    "model", bucket="architecture", default="resnet9", baseline="resnet9",
    valid=Options(MODELS, other=(CUSTOM_HELP, is_custom)), search=Registered(MODELS),
    doc="The network family, by name; or your own as package.module:factory; or timm:<name> (needs timm).",
)
WIDTH = knob(
    "width", bucket="architecture", default=0.5, baseline=0.5, valid=Interval(float, 0.0625, 8.0),
    search=Uniform(0.25, 2.0, log=True),
    doc="Multiplier on every layer's channel count (1 = the published widths).",
)


def build(recipe: Recipe, num_classes: int, in_channels: int, image_size: int,
          network: nn.Module | Callable | None = None) -> nn.Module:
    """Build the recipe's network for `num_classes` outputs and (in_channels, size, size) inputs.

    `network` is a module, or a factory, given to the Python API in place of the recipe's model.
    """
    arch, reg = recipe.architecture, recipe.regularization
    spec = ModelSpec(num_classes, in_channels, image_size, arch, reg.dropout, reg.drop_path)
    if isinstance(network, nn.Module):
        return check_output(network, f"{type(network).__name__} object", spec)
    if network is not None:
        return call_factory(network, spec, getattr(network, "__qualname__", repr(network)))
    if arch.model in MODELS:
        return MODELS[arch.model].builder(spec)
    return build_custom(arch.model, spec)
