"""Your own model: a `package.module:factory` name, a timm model (`timm:<name>`), or a module object.

A factory is called with the keyword arguments it accepts among num_classes, in_channels
and image_size, and must return an `nn.Module` mapping (N, in_channels, S, S) images to
(N, num_classes) logits.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..errors import AutorecipeError

if TYPE_CHECKING:
    from .registry import ModelSpec

OBJECT = "object"  # the recipe's model when a module object was given to the Python API
CUSTOM_HELP = "package.module:factory, or timm:<name>"
_FACTORY = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.\-]*")


def imports_code(value: str) -> bool:
    """Whether building the model named `value` imports a module and calls a factory outside autorecipe and timm
    (a `package.module:factory` name)."""
    return value != OBJECT and bool(_FACTORY.fullmatch(value)) and not value.startswith("timm:")


def is_custom(value: str) -> bool:
    """Whether a model name names a factory, a timm model, or a module object."""
    return value == OBJECT or bool(_FACTORY.fullmatch(value))


def build_custom(name: str, spec: ModelSpec) -> nn.Module:
    """Build a model named by a factory path or `timm:<name>`, checking its output shape."""
    if name == OBJECT:
        raise AutorecipeError(
            "model 'object': this run was trained on an nn.Module passed to autorecipe.fit(model=...); "
            "load it in Python with autorecipe.load(path, model=<a module of the same class>)")
    module_name, _, attribute = name.partition(":")
    if module_name == "timm":
        return check_output(_timm(attribute, spec), name, spec)
    try:
        target = importlib.import_module(module_name)
    except ImportError as error:
        raise AutorecipeError(f"model {name}: cannot import {module_name} ({error}); "
                              "is the package installed or on PYTHONPATH?") from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise AutorecipeError(f"model {name}: {module_name} has no attribute {attribute!r}")
        target = getattr(target, part)
    return call_factory(target, spec, name)


def call_factory(factory: Callable, spec: ModelSpec, name: str) -> nn.Module:
    """Call a model factory with the arguments it accepts, and check what it returns."""
    if not callable(factory):
        raise AutorecipeError(f"model {name}: {type(factory).__name__} object is not callable; "
                              "expected a function or class returning a torch.nn.Module")
    offered = {"num_classes": spec.num_classes, "in_channels": spec.in_channels, "image_size": spec.image_size}
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        parameters = {}
    takes_all = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    kwargs = {k: v for k, v in offered.items() if takes_all or k in parameters}
    try:
        network = factory(**kwargs)
    except Exception as error:
        raise AutorecipeError(f"model {name}: the factory failed with {type(error).__name__}: {error} "
                              f"(it is called with {', '.join(kwargs) or 'no arguments'})") from error
    if not isinstance(network, nn.Module):
        raise AutorecipeError(f"model {name}: the factory returned a {type(network).__name__}, "
                              "expected a torch.nn.Module")
    return check_output(network, name, spec)


def check_output(network: nn.Module, name: str, spec: ModelSpec) -> nn.Module:
    """Raise a clear error unless the network maps a small batch to (N, num_classes) logits."""
    was_training = network.training
    device = next(network.parameters(), torch.zeros(())).device
    network.eval()
    try:
        with torch.no_grad():
            out = network(torch.zeros(2, spec.in_channels, spec.image_size, spec.image_size, device=device))
    except Exception as error:
        raise AutorecipeError(f"model {name}: a forward pass on (2, {spec.in_channels}, {spec.image_size}, "
                              f"{spec.image_size}) images failed with {type(error).__name__}: {error}") from error
    finally:
        network.train(was_training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, spec.num_classes):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise AutorecipeError(f"model {name}: returns {shape} for a batch of 2, expected logits of shape "
                              f"(2, {spec.num_classes}) for {spec.num_classes} classes")
    return network


def importable_name(factory: Callable) -> str | None:
    """`module:qualname` when the factory can be imported again by that name (to rebuild a saved run)."""
    module, qualname = getattr(factory, "__module__", None), getattr(factory, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname:
        return None
    try:
        target = importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError):
        return None
    return f"{module}:{qualname}" if target is factory else None


def _timm(model_name: str, spec: ModelSpec) -> nn.Module:
    try:
        import timm
    except ImportError:
        raise AutorecipeError(f"model timm:{model_name} needs timm, which is not installed; "
                              "install it with pip install 'autorecipe[timm]'") from None
    try:
        return timm.create_model(model_name, pretrained=False, num_classes=spec.num_classes,
                                 in_chans=spec.in_channels)
    except Exception as error:  # timm raises RuntimeError for unknown names
        raise AutorecipeError(f"model timm:{model_name}: timm cannot build it ({error})") from error
