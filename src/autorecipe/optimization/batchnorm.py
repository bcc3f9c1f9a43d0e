"""Batch-norm momentum and epsilon, set on every batch-norm layer of a network."""

from __future__ import annotations

from torch import nn

from ..knobs import Interval, Uniform, knob

BN_MOMENTUM = knob(
    "bn_momentum", bucket="optimization", default=0.1, baseline=0.1, valid=Interval(float, 0.0, 1.0),
    search=Uniform(0.01, 0.5, log=True),
    doc="Weight of each batch in batch norm's running statistics (PyTorch's convention: 0.1 is its default).",
)
BN_EPS = knob(
    "bn_eps", bucket="optimization", default=1e-5, baseline=1e-5, valid=Interval(float, 0.0, 1.0),
    search=Uniform(1e-6, 1e-2, log=True),
    doc="Batch norm's epsilon, added to the variance before dividing by its square root.",
)


def configure_batchnorm(section, network: nn.Module) -> None:
    """Give every batch-norm layer of `network` the recipe's momentum and epsilon."""
    for module in network.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum, module.eps = section.bn_momentum, section.bn_eps
