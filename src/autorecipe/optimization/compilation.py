"""torch.compile on or off for the training forward pass."""

from __future__ import annotations

import torch
from torch import nn

from ..knobs import Choice, knob

COMPILE = knob(
    "compile", bucket="optimization", default=False, baseline=False, search=Choice((False, True)),
    doc="Compile the model with torch.compile for training (pays a compile time at the start; "
        "needs a C++ compiler on the CPU).",
)


def compiled(section, model: nn.Module) -> nn.Module:
    """The module to call for training: `model` compiled when the recipe asks, else `model` itself."""
    return torch.compile(model) if section.compile else model
