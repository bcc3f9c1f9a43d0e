"""The optimizer step: fp16 loss scaling, gradient accumulation, clipping and lookahead, in that order
(the gradient-health monitor, when the loop attaches one, samples after unscaling, before clipping)."""

from __future__ import annotations

import torch
from torch import nn

from ..optimization.clipping import clip_gradients
from ..optimization.lookahead import Lookahead
from ..optimization.precision import grad_scaler
from .gradients import GradientMonitor


class Stepper:
    """Takes each batch's loss; steps the optimizer once every `accumulate` batches."""

    def __init__(self, section, model: nn.Module, optimizer: torch.optim.Optimizer, device: torch.device,
                 precision: str):
        self.section, self.optimizer = section, optimizer
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        self.scaler = grad_scaler(device, precision)
        self.lookahead = Lookahead(section, model) if section.lookahead else None
        self.batches = 0
        self.monitor: GradientMonitor | None = None

    def backward(self, loss: torch.Tensor) -> bool:
        """Add the gradient of `loss`; on every `accumulate`-th call, step the optimizer and return True."""
        self.scaler.scale(loss / self.section.accumulate).backward()
        self.batches += 1
        if self.batches % self.section.accumulate:
            return False
        self.scaler.unscale_(self.optimizer)
        if self.monitor is not None:
            self.monitor.observe(scaled=self.scaler.is_enabled())
        clip_gradients(self.section, self.parameters)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if self.lookahead is not None:
            self.lookahead.step()
        return True

    def state_dict(self) -> dict:
        """What a checkpoint keeps: the batch count, the loss scaler and lookahead's slow weights."""
        return {"batches": self.batches, "scaler": self.scaler.state_dict(),
                "lookahead": self.lookahead.state_dict() if self.lookahead is not None else None}

    def load_state_dict(self, state: dict) -> None:
        self.batches = state["batches"]
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        if self.lookahead is not None and state["lookahead"] is not None:
            self.lookahead.load_state_dict(state["lookahead"])
