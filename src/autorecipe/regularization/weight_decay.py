"""Weight penalties: decoupled or coupled (L2) weight decay, an L1 penalty, and both (elastic net).

Declared in the regularization bucket because their purpose is generalization. They are
applied here, by a hook that runs whenever the optimizer steps (after gradients are
unscaled, clipped and accumulated), rather than by each optimizer, so that every optimizer
gets the same, declared meaning:
- coupled (classic L2): the gradient gains weight_decay * w, and then goes through the
  optimizer's momentum and adaptive scaling (what SGD's and Adam's weight_decay do);
- decoupled (Loshchilov & Hutter, 2019): w shrinks by lr * weight_decay, outside the
  gradient (what AdamW and Lion do). LAMB takes its decoupled decay over itself, because its
  paper puts it inside the trust ratio;
- L1: the gradient gains l1 * sign(w).
`weight_decay_mode: auto` uses each optimizer's own published form.
"""

from __future__ import annotations

import torch
from torch import nn

from ..knobs import Choice, Interval, Options, Uniform, knob

WEIGHT_DECAY = knob(
    "weight_decay", bucket="regularization", default=5e-4, baseline=0.0, valid=Interval(float, 0.0, 1.0),
    search=Uniform(1e-5, 1.0, log=True, off=0.0),
    doc="Weight decay coefficient, applied as weight_decay_mode says; typically 5e-4 for SGD, 0.05 "
        "for AdamW, LAMB and Muon, 3-10x that for Lion.",
)
WEIGHT_DECAY_MODE = knob(
    "weight_decay_mode", bucket="regularization", default="auto", baseline="auto",
    valid=Options(("auto", "coupled", "decoupled")),
    doc="coupled: add weight_decay * w to the gradient (classic L2); decoupled: shrink w by "
        "lr * weight_decay at each step, outside the gradient (AdamW, SGDW); auto: the form the "
        "optimizer's paper uses (each registered optimizer declares it: see the optimizer knob).",
)
L1 = knob(
    "l1", bucket="regularization", default=0.0, baseline=0.0, valid=Interval(float, 0.0, 1.0),
    search=Uniform(1e-7, 1e-4, log=True, off=0.0),
    doc="L1 penalty coefficient: adds l1 * sign(w) to the gradient; with weight_decay, an elastic net.",
)
DECAY_NORM_BIAS = knob(
    "decay_norm_bias", bucket="regularization", default=True, baseline=True, search=Choice((True, False)),
    doc="Apply weight_decay and l1 to biases and normalization parameters too (false: only to "
        "convolution and linear weights).",
)


def decay_mode(section, published: str) -> str:
    """coupled or decoupled: the section's weight_decay_mode, auto meaning the optimizer's `published` form."""
    return published if section.weight_decay_mode == "auto" else section.weight_decay_mode


def parameter_groups(section, model: nn.Module) -> list[dict]:
    """The optimizer's parameter groups; each carries its penalties as `decay` and `l1`.

    The groups' own `weight_decay` is 0: `attach_penalties` applies the penalties.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    penalties = {"weight_decay": 0.0, "decay": section.weight_decay, "l1": section.l1}
    if section.decay_norm_bias:
        return [{"params": params, **penalties}]
    return [{"params": [p for p in params if p.ndim > 1], **penalties},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0, "decay": 0.0, "l1": 0.0}]


def attach_penalties(mode: str, optimizer: torch.optim.Optimizer) -> None:
    """Apply each group's penalties (from `parameter_groups`) just before every `optimizer.step()`,
    weight decay as `mode` (coupled or decoupled) says.

    An optimizer with `decoupled_decay_inside` (LAMB) applies decoupled decay in its own step:
    its groups' `weight_decay` takes the decay and the hook leaves it out.
    """
    if mode == "decoupled" and getattr(optimizer, "decoupled_decay_inside", False):
        for group in optimizer.param_groups:
            group["weight_decay"], group["decay"] = group.get("decay", 0.0), 0.0
    optimizer.register_step_pre_hook(lambda opt, args, kwargs: apply_penalties(mode, opt))


@torch.no_grad()
def apply_penalties(mode: str, optimizer: torch.optim.Optimizer) -> None:
    """Apply each group's weight decay (coupled or decoupled, as `mode` says) and L1 penalty."""
    for group in optimizer.param_groups:
        params = [p for p in group["params"] if p.grad is not None]
        decay, l1 = group.get("decay", 0.0), group.get("l1", 0.0)
        if not params or not (decay or l1):
            continue
        grads = [p.grad for p in params]
        if decay and mode == "coupled":
            torch._foreach_add_(grads, params, alpha=decay)
        if l1:
            torch._foreach_add_(grads, torch._foreach_sign(params), alpha=l1)
        if decay and mode == "decoupled":
            torch._foreach_mul_(params, 1.0 - group["lr"] * decay)
