"""EMA of weights: evaluate and save an exponential moving average of the trained weights."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..knobs import ON, Choice, Interval, Uniform, knob

EMA_DECAY = knob(
    "ema_decay", bucket="regularization", default=0.0, baseline=0.0, valid=Interval(float, 0.0, 0.99999),
    search=Uniform(0.99, 0.9999, log=True, off=0.0),
    doc="Decay of an exponential moving average of the weights (and batch-norm statistics), updated "
        "every step; evaluation and the saved model use the average; 0 = off.",
)
EMA_WARMUP = knob(
    "ema_warmup", bucket="regularization", default=True, baseline=True, search=Choice((True, False)),
    when=("ema_decay", ON),
    doc="Ramp the EMA decay up as min(ema_decay, (1 + t) / (10 + t)) at step t, so early weights fade fast.",
)


class Ema:
    """A copy of `model` whose floating-point weights and buffers follow an exponential moving average."""

    def __init__(self, model: nn.Module, decay: float, warmup: bool = True):
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay, self.warmup, self.updates = decay, warmup, 0
        pairs = list(zip(self.model.state_dict().values(), model.state_dict().values()))
        self._averaged = [(a, b) for a, b in pairs if a.is_floating_point()]
        self._copied = [(a, b) for a, b in pairs if not a.is_floating_point()]

    def current_decay(self) -> float:
        """The decay the next update uses."""
        if not self.warmup:
            return self.decay
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self) -> None:
        """Move the average toward the model's current weights: avg = d * avg + (1 - d) * w."""
        weight = 1.0 - self.current_decay()
        torch._foreach_lerp_([a for a, _ in self._averaged], [b for _, b in self._averaged], weight)
        for a, b in self._copied:
            a.copy_(b)
        self.updates += 1

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])  # copies in place: the averaged pairs stay valid
        self.updates = state["updates"]


def build_ema(section, model: nn.Module) -> Ema | None:
    """The recipe's weight average of `model`, or None when off."""
    return Ema(model, section.ema_decay, section.ema_warmup) if section.ema_decay else None
