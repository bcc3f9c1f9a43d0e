"""Lookahead (Zhang et al., 2019): every k steps, pull slow weights toward the fast ones and restart from them."""

from __future__ import annotations

import torch
from torch import nn

from ..knobs import Choice, IntRange, Interval, Uniform, knob

LOOKAHEAD = knob(
    "lookahead", bucket="optimization", default=False, baseline=False, search=Choice((False, True)),
    doc="Periodic weight averaging: the optimizer explores with fast weights; slow weights follow them.",
)
LOOKAHEAD_STEPS = knob(
    "lookahead_steps", bucket="optimization", default=5, baseline=5, valid=Interval(int, 1, 1000),
    search=IntRange(2, 20), when=("lookahead", (True,)),
    doc="Optimizer steps between lookahead updates (k).",
)
LOOKAHEAD_ALPHA = knob(
    "lookahead_alpha", bucket="optimization", default=0.5, baseline=0.5, valid=Interval(float, 0.0, 1.0),
    search=Uniform(0.3, 0.9), when=("lookahead", (True,)),
    doc="How far the slow weights move toward the fast ones at each lookahead update.",
)


class Lookahead:
    """Slow copies of a model's parameters; call `step()` after every optimizer step."""

    def __init__(self, section, model: nn.Module):
        self.k, self.alpha, self.count = section.lookahead_steps, section.lookahead_alpha, 0
        self.fast = [p for p in model.parameters() if p.requires_grad]
        self.slow = [p.detach().clone() for p in self.fast]

    @torch.no_grad()
    def step(self) -> None:
        """Every k calls: slow += alpha * (fast - slow); fast = slow."""
        self.count += 1
        if self.count % self.k:
            return
        for fast, slow in zip(self.fast, self.slow):
            slow.lerp_(fast, self.alpha)
            fast.copy_(slow)

    def state_dict(self) -> dict:
        return {"count": self.count, "slow": self.slow}

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        self.count = state["count"]
        for slow, saved in zip(self.slow, state["slow"]):
            slow.copy_(saved)
