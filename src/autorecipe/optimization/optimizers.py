"""Optimizers by name."""

from __future__ import annotations

import torch

from ..knobs import Choice, Uniform, knob

OPTIMIZER = knob(
    "optimizer", bucket="optimization", default="sgd", baseline="sgd", choices=("sgd", "adamw"),
    search=Choice(("sgd", "adamw")),
    doc="sgd: SGD with (Nesterov) momentum; adamw: Adam with decoupled weight decay.",
)
LR = knob(
    "lr", bucket="optimization", default=0.4, baseline=0.4, low=1e-6, high=100.0,
    search=Uniform(1e-3, 2.0, log=True),
    doc="Peak learning rate (reached at the end of warmup) for a batch of 512; see lr_scaling.",
)
MOMENTUM = knob(
    "momentum", bucket="optimization", default=0.9, baseline=0.9, low=0.0, high=0.999,
    search=Uniform(0.8, 0.99),
    doc="SGD momentum, or Adam's beta1.",
)
NESTEROV = knob(
    "nesterov", bucket="optimization", default=True, baseline=False, search=Choice((True, False)),
    when=("optimizer", ("sgd",)),
    doc="Nesterov momentum for SGD.",
)


def build_optimizer(section, groups: list[dict]) -> torch.optim.Optimizer:
    """The recipe's optimizer over parameter groups (which carry their own weight decay)."""
    if section.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=section.lr, betas=(section.momentum, 0.999))
    return torch.optim.SGD(groups, lr=section.lr, momentum=section.momentum,
                           nesterov=section.nesterov and section.momentum > 0)
