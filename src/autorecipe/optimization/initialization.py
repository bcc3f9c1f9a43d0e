"""Weight initialization of the network's convolutions and linear layers, applied when it is built.

Declared in the optimization bucket: its purpose is to make good weights quick to find.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..knobs import Choice, Options, knob

INIT = knob(
    "init", bucket="optimization", default="torch", baseline="torch",
    valid=Options(("torch", "he", "xavier", "dirac")), search=Choice(("torch", "he", "xavier", "dirac")),
    doc="Weights of convolutions and linear layers: torch (PyTorch's defaults), he (Kaiming normal, fan out), "
        "xavier (Glorot uniform), or dirac (convolutions start as identity maps plus small noise; "
        "linear layers Xavier).",
)
ZERO_INIT_RESIDUAL = knob(
    "zero_init_residual", bucket="optimization", default=False, baseline=False, search=Choice((False, True)),
    doc="Start the scale of the last norm in each residual branch at zero, so blocks begin as identities "
        "(Goyal et al., 2017).",
)
DIRAC_NOISE = 0.1  # noise added to Dirac weights, relative to He's scale, so channels can diverge


@torch.no_grad()
def initialize(section, network: nn.Module) -> None:
    """Initialize `network` in place as the recipe asks."""
    if section.init != "torch":
        for module in network.modules():
            if isinstance(module, nn.Conv2d):
                _init_conv(module, section.init)
            elif isinstance(module, nn.Linear):
                if section.init == "he":
                    nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                else:
                    nn.init.xavier_uniform_(module.weight)
            else:
                continue
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    if section.zero_init_residual:
        for module in network.modules():
            if getattr(module, "residual_end", False):
                nn.init.zeros_(module.weight)


def _init_conv(conv: nn.Conv2d, kind: str) -> None:
    if kind == "he":
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    elif kind == "xavier":
        nn.init.xavier_uniform_(conv.weight)
    else:
        weight = conv.weight
        fan_in = weight.shape[1] * weight.shape[2] * weight.shape[3]
        groups = conv.groups if weight.shape[0] % conv.groups == 0 else 1
        nn.init.dirac_(weight, groups=groups)
        weight.add_(torch.randn_like(weight) * DIRAC_NOISE * math.sqrt(2.0 / fan_in))
