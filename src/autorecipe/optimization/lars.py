"""LARS (You et al., 2017): SGD with momentum whose step per weight tensor is scaled by ||w|| / ||g||."""

from __future__ import annotations

import torch

TRUST = 0.001  # the paper's trust coefficient (eta)


class LARS(torch.optim.Optimizer):
    """Layer-wise adaptive rate scaling; biases and normalization parameters (1-d) take plain momentum SGD.

    Weight decay (coupled, as in the paper) is added to the gradient by the regularization
    bucket before the step, so the trust ratio sees it.
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, trust: float = TRUST):
        super().__init__(params, dict(lr=lr, momentum=momentum, trust=trust))

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter with a gradient."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad.clone()
                if p.ndim > 1:
                    w_norm, g_norm = p.norm(), grad.norm()
                    local = torch.where((w_norm > 0) & (g_norm > 0), group["trust"] * w_norm / g_norm,
                                        torch.ones_like(w_norm))
                    grad.mul_(local)
                buf = self.state[p].get("momentum")
                if buf is None:
                    buf = self.state[p]["momentum"] = torch.zeros_like(p)
                buf.mul_(group["momentum"]).add_(grad)
                p.add_(buf, alpha=-group["lr"])
        return loss
