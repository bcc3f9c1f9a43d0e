"""Lion (Chen et al., 2023): the sign of an interpolated momentum.

Its decoupled weight decay is applied by the regularization bucket (`weight_decay_mode: auto`).
"""

from __future__ import annotations

import torch


class Lion(torch.optim.Optimizer):
    """EvoLved sign momentum: every coordinate moves by exactly lr per step."""

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.99)):
        super().__init__(params, dict(lr=lr, betas=betas))

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter with a gradient."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                m = self.state[p].get("m")
                if m is None:
                    m = self.state[p]["m"] = torch.zeros_like(p)
                p.add_(torch.sign(m * beta1 + p.grad * (1 - beta1)), alpha=-group["lr"])
                m.mul_(beta2).add_(p.grad, alpha=1 - beta2)
        return loss
