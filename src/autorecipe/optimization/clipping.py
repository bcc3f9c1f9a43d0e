"""Gradient clipping by global norm."""

from __future__ import annotations

import torch

from ..knobs import Interval, Uniform, knob

GRAD_CLIP = knob(
    "grad_clip", bucket="optimization", default=0.0, baseline=0.0, valid=Interval(float, 0.0, 1e6),
    search=Uniform(0.1, 10.0, log=True, off=0.0),
    doc="Rescale the gradient so its global L2 norm is at most this; 0 = off.",
)


def clip_gradients(section, parameters: list[torch.Tensor]) -> None:
    """Clip the (unscaled) gradients of `parameters` to the recipe's global norm, if any."""
    if section.grad_clip:
        torch.nn.utils.clip_grad_norm_(parameters, section.grad_clip)
