"""Muon (Jordan et al., 2024): momentum orthogonalized by a Newton-Schulz iteration, for conv and linear weights.

Every weight with two or more dimensions (flattened to out x in) takes the orthogonalized
momentum, scaled to the update size of AdamW (0.2 * sqrt(max(out, in)), Liu et al., 2025) so
that one learning rate serves both; biases and normalization parameters take the fallback,
AdamW or SGD with momentum. Weight decay (decoupled, with `weight_decay_mode: auto`) is applied
by the regularization bucket.
"""

from __future__ import annotations

import math

import torch

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # the quintic iteration of Jordan et al.
NS_STEPS = 5
ADAMW_RMS = 0.2


def orthogonalize(g: torch.Tensor, steps: int = NS_STEPS) -> torch.Tensor:
    """An approximation of U V^T for the 2-d matrix g = U S V^T (its singular values pushed toward 1)."""
    a, b, c = NS_COEFFICIENTS
    x = g.float() / (g.norm() + 1e-7)
    wide = x.shape[0] <= x.shape[1]
    if not wide:
        x = x.T
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x if wide else x.T


class Muon(torch.optim.Optimizer):
    """Orthogonalized momentum for weights of 2+ dimensions; `fallback` ("adamw" or "sgd") for the rest."""

    def __init__(self, params, lr: float, momentum: float = 0.95, nesterov: bool = True, fallback: str = "adamw",
                 beta2: float = 0.999, eps: float = 1e-8):
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, fallback=fallback,
                                      beta2=beta2, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter with a gradient."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.ndim >= 2:
                    self._muon(p, group)
                elif group["fallback"] == "adamw":
                    self._adamw(p, group)
                else:
                    self._sgd(p, group)
        return loss

    def _momentum(self, p: torch.Tensor, group: dict) -> torch.Tensor:
        buf = self.state[p].get("momentum")
        if buf is None:
            buf = self.state[p]["momentum"] = torch.zeros_like(p)
        buf.mul_(group["momentum"]).add_(p.grad)
        return p.grad.add(buf, alpha=group["momentum"]) if group["nesterov"] else buf

    def _muon(self, p: torch.Tensor, group: dict) -> None:
        update = orthogonalize(self._momentum(p, group).reshape(len(p), -1))
        scale = ADAMW_RMS * math.sqrt(max(update.shape))
        p.add_(update.view_as(p).to(p.dtype), alpha=-group["lr"] * scale)

    def _sgd(self, p: torch.Tensor, group: dict) -> None:
        p.add_(self._momentum(p, group), alpha=-group["lr"])

    def _adamw(self, p: torch.Tensor, group: dict) -> None:
        state, beta1, beta2 = self.state[p], group["momentum"], group["beta2"]
        if "m" not in state:
            state.update(step=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
        state["step"] += 1
        state["m"].mul_(beta1).add_(p.grad, alpha=1 - beta1)
        state["v"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
        denom = (state["v"] / (1 - beta2 ** state["step"])).sqrt_().add_(group["eps"])
        p.addcdiv_(state["m"], denom, value=-group["lr"] / (1 - beta1 ** state["step"]))
