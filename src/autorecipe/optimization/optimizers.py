"""Optimizers by name: a registry from a recipe's `optimizer` knob to an entry holding its facts.

Each entry has the builder, the optimizer's usual peak learning rate (what `lr: 0` gives it)
and the form of weight decay its paper uses (what `weight_decay_mode: auto` gives it).
torch.optim is used where it has the method; LARS, LAMB, Lion and Muon are short
implementations in their own files. Parameter groups arrive from the training wing (with
their penalties) and may carry an `lr_scale` that the schedule honours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..knobs import Choice, Interval, Options, Registered, Uniform, knob
from .lamb import LAMB
from .lars import LARS
from .lion import Lion
from .muon import Muon

Builder = Callable[[list[dict], object], torch.optim.Optimizer]
DECAY_FORMS = ("coupled", "decoupled")


@dataclass(frozen=True)
class OptimizerEntry:
    """A registered optimizer: its builder, its usual peak lr for a batch of 512 (None: the model's own
    SGD lr), the form of weight decay its paper uses, and its place among the search's choices."""

    name: str
    build: Builder
    auto_lr: float | None
    decay: str  # coupled (L2 in the gradient) or decoupled (the weights shrink outside it)
    search_rank: int | None = None


OPTIMIZERS: dict[str, OptimizerEntry] = {}


def register(name: str, *, auto_lr: float | None, decay: str, search_rank: int | None = None
             ) -> Callable[[Builder], Builder]:
    """Decorator: make an optimizer reachable by name from recipes, the CLI, Python and the search.

    `search_rank`: its place among the search's choices (a resumed search needs them in the same
    order); None: the search leaves it out.
    """
    if decay not in DECAY_FORMS:
        raise ValueError(f"optimizer {name}: decay must be one of {DECAY_FORMS}, got {decay!r}")

    def add(builder: Builder) -> Builder:
        OPTIMIZERS[name] = OptimizerEntry(name, builder, auto_lr, decay, search_rank)
        return builder
    return add


@register("sgd", auto_lr=None, decay="coupled", search_rank=0)
def _sgd(groups, s):
    return torch.optim.SGD(groups, lr=s.lr, momentum=s.momentum, nesterov=s.nesterov and s.momentum > 0)


@register("adam", auto_lr=2e-3, decay="coupled")
def _adam(groups, s):
    return torch.optim.Adam(groups, lr=s.lr, betas=(s.momentum, s.beta2))


@register("adamw", auto_lr=4e-3, decay="decoupled", search_rank=1)
def _adamw(groups, s):
    return torch.optim.AdamW(groups, lr=s.lr, betas=(s.momentum, s.beta2))


@register("rmsprop", auto_lr=1e-3, decay="coupled")
def _rmsprop(groups, s):
    return torch.optim.RMSprop(groups, lr=s.lr, alpha=s.beta2, momentum=s.momentum)


@register("adagrad", auto_lr=5e-2, decay="coupled")
def _adagrad(groups, s):
    return torch.optim.Adagrad(groups, lr=s.lr)


@register("lamb", auto_lr=1e-2, decay="decoupled", search_rank=2)
def _lamb(groups, s):
    return LAMB(groups, lr=s.lr, betas=(s.momentum, s.beta2))


@register("lars", auto_lr=2.0, decay="coupled")
def _lars(groups, s):
    return LARS(groups, lr=s.lr, momentum=s.momentum)


@register("lion", auto_lr=4e-4, decay="decoupled", search_rank=3)
def _lion(groups, s):
    return Lion(groups, lr=s.lr, betas=(s.momentum, s.beta2))


@register("muon", auto_lr=4e-3, decay="decoupled", search_rank=4)
def _muon(groups, s):
    return Muon(groups, lr=s.lr, momentum=s.momentum, nesterov=s.nesterov, fallback=s.muon_fallback,
                beta2=s.beta2)


def _optimizer_doc() -> str:
    """The optimizer knob's help, listing every registered optimizer with its automatic lr and decay form."""
    listed = "; ".join(f"{e.name} (lr {_auto_lr_text(e)}, {e.decay} decay)" for e in OPTIMIZERS.values())
    return ("sgd (momentum, Nesterov), adam, adamw, rmsprop, adagrad, lamb (You et al., 2019), lars "
            "(You et al., 2017), lion (Chen et al., 2023), muon (orthogonalized momentum for conv and linear "
            "weights, muon_fallback for the rest), or any registered optimizer. With lr 0 (auto) each gets "
            f"its usual learning rate, and with weight_decay_mode auto its paper's form of decay: {listed}.")


def _auto_lr_text(entry: OptimizerEntry) -> str:
    return "the model's" if entry.auto_lr is None else f"{entry.auto_lr:g}"


OPTIMIZER = knob(
    "optimizer", bucket="optimization", default="sgd", baseline="sgd", valid=Options(OPTIMIZERS),
    search=Registered(OPTIMIZERS), doc=_optimizer_doc,
)
LR = knob(
    "lr", bucket="optimization", default=0.0, baseline=0.0, valid=Interval(float, 0.0, 100.0),
    search=Uniform(1e-4, 2.0, log=True),
    doc="Peak learning rate (reached at the end of warmup) for a batch of 512; see lr_scaling. 0 = auto: "
        "the optimizer's usual value (SGD: 0.4 for resnet9 and fastnet, 0.1 for other models; adamw 4e-3, "
        "lion 4e-4, ...).",
)
MOMENTUM = knob(
    "momentum", bucket="optimization", default=0.9, baseline=0.9, valid=Interval(float, 0.0, 0.999),
    search=Uniform(0.8, 0.99),
    doc="Momentum of sgd, rmsprop, lars and muon, or beta1 of adam, adamw, lamb and lion.",
)
NESTEROV = knob(
    "nesterov", bucket="optimization", default=True, baseline=False, search=Choice((True, False)),
    when=("optimizer", ("sgd", "muon")),
    doc="Nesterov momentum for sgd and muon.",
)
BETA2 = knob(
    "beta2", bucket="optimization", default=0.999, baseline=0.999, valid=Interval(float, 0.0, 0.99999),
    search=Uniform(0.95, 0.9999), when=("optimizer", ("adam", "adamw", "lamb", "lion", "rmsprop", "muon")),
    doc="Decay of the second-moment average (adam, adamw, lamb, muon's adamw fallback), rmsprop's "
        "alpha, or lion's momentum decay (its paper uses 0.99).",
)
MUON_FALLBACK = knob(
    "muon_fallback", bucket="optimization", default="adamw", baseline="adamw", valid=Options(("adamw", "sgd")),
    search=Choice(("adamw", "sgd")), when=("optimizer", ("muon",)),
    doc="The optimizer muon uses for biases and normalization parameters (everything that is not a "
        "conv or linear weight), at the same lr.",
)


def build_optimizer(section, groups: list[dict]) -> torch.optim.Optimizer:
    """The recipe's optimizer over parameter groups (which carry their own weight decay)."""
    return OPTIMIZERS[section.optimizer].build(groups, section)
