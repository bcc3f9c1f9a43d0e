"""Optimizers by name: a registry from a recipe's `optimizer` knob to a builder.

torch.optim is used where it has the method; LARS, LAMB, Lion and Muon are short
implementations in their own files. Parameter groups arrive from the regularization
bucket (with their own weight decay) and may carry an `lr_scale` that the schedule honours.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from ..architecture import sgd_lr
from ..knobs import Choice, Uniform, knob
from .lamb import LAMB
from .lars import LARS
from .lion import Lion
from .muon import Muon

if TYPE_CHECKING:
    from ..recipe import Recipe

Builder = Callable[[list[dict], object], torch.optim.Optimizer]
OPTIMIZERS: dict[str, Builder] = {}


def register(name: str) -> Callable[[Builder], Builder]:
    """Decorator: make an optimizer builder reachable by name from recipes, the CLI and Python."""
    def add(builder: Builder) -> Builder:
        OPTIMIZERS[name] = builder
        return builder
    return add


@register("sgd")
def _sgd(groups, s):
    return torch.optim.SGD(groups, lr=s.lr, momentum=s.momentum, nesterov=s.nesterov and s.momentum > 0)


@register("adam")
def _adam(groups, s):
    return torch.optim.Adam(groups, lr=s.lr, betas=(s.momentum, s.beta2))


@register("adamw")
def _adamw(groups, s):
    return torch.optim.AdamW(groups, lr=s.lr, betas=(s.momentum, s.beta2))


@register("rmsprop")
def _rmsprop(groups, s):
    return torch.optim.RMSprop(groups, lr=s.lr, alpha=s.beta2, momentum=s.momentum)


@register("adagrad")
def _adagrad(groups, s):
    return torch.optim.Adagrad(groups, lr=s.lr)


@register("lamb")
def _lamb(groups, s):
    return LAMB(groups, lr=s.lr, betas=(s.momentum, s.beta2))


@register("lars")
def _lars(groups, s):
    return LARS(groups, lr=s.lr, momentum=s.momentum)


@register("lion")
def _lion(groups, s):
    return Lion(groups, lr=s.lr, betas=(s.momentum, s.beta2))


@register("muon")
def _muon(groups, s):
    return Muon(groups, lr=s.lr, momentum=s.momentum, nesterov=s.nesterov, fallback=s.muon_fallback,
                beta2=s.beta2)


OPTIMIZER = knob(
    "optimizer", bucket="optimization", default="sgd", baseline="sgd", choices=tuple(OPTIMIZERS),
    search=Choice(("sgd", "adamw", "lamb", "lion", "muon")),
    doc="sgd (momentum, Nesterov), adam, adamw, rmsprop, adagrad, lamb (You et al., 2019), lars "
        "(You et al., 2017), lion (Chen et al., 2023), or muon (orthogonalized momentum for conv and "
        "linear weights, muon_fallback for the rest). With lr 0 (auto) each gets its usual learning rate.",
)
# The usual peak learning rate of each optimizer for a batch of 512 (lr: 0, auto); SGD's is the architecture's.
AUTO_LR = {"adam": 2e-3, "adamw": 4e-3, "rmsprop": 1e-3, "adagrad": 5e-2, "lamb": 1e-2, "lars": 2.0, "lion": 4e-4,
           "muon": 4e-3}
LR = knob(
    "lr", bucket="optimization", default=0.0, baseline=0.0, low=0.0, high=100.0,
    search=Uniform(1e-4, 2.0, log=True),
    doc="Peak learning rate (reached at the end of warmup) for a batch of 512; see lr_scaling. 0 = auto: "
        "the optimizer's usual value (SGD: 0.4 for resnet9 and fastnet, 0.1 for other models; adamw 4e-3, "
        "lion 4e-4, ...).",
)
MOMENTUM = knob(
    "momentum", bucket="optimization", default=0.9, baseline=0.9, low=0.0, high=0.999,
    search=Uniform(0.8, 0.99),
    doc="Momentum of sgd, rmsprop, lars and muon, or beta1 of adam, adamw, lamb and lion.",
)
NESTEROV = knob(
    "nesterov", bucket="optimization", default=True, baseline=False, search=Choice((True, False)),
    when=("optimizer", ("sgd", "muon")),
    doc="Nesterov momentum for sgd and muon.",
)
BETA2 = knob(
    "beta2", bucket="optimization", default=0.999, baseline=0.999, low=0.0, high=0.99999,
    search=Uniform(0.95, 0.9999), when=("optimizer", ("adam", "adamw", "lamb", "lion", "rmsprop", "muon")),
    doc="Decay of the second-moment average (adam, adamw, lamb, muon's adamw fallback), rmsprop's "
        "alpha, or lion's momentum decay (its paper uses 0.99).",
)
MUON_FALLBACK = knob(
    "muon_fallback", bucket="optimization", default="adamw", baseline="adamw", choices=("adamw", "sgd"),
    search=Choice(("adamw", "sgd")), when=("optimizer", ("muon",)),
    doc="The optimizer muon uses for biases and normalization parameters (everything that is not a "
        "conv or linear weight), at the same lr.",
)


def resolve_lr(recipe: Recipe) -> Recipe:
    """`recipe` with lr 0 (auto) replaced by its optimizer's usual peak lr for a batch of 512."""
    opt = recipe.optimization
    if opt.lr:
        return recipe
    lr = sgd_lr(recipe.architecture.model) if opt.optimizer == "sgd" else AUTO_LR[opt.optimizer]
    return recipe.with_values({"lr": lr})


def build_optimizer(section, groups: list[dict]) -> torch.optim.Optimizer:
    """The recipe's optimizer over parameter groups (which carry their own weight decay)."""
    return OPTIMIZERS[section.optimizer](groups, section)
