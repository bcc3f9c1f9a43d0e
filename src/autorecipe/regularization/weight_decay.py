"""Weight decay: shrink the weights toward zero at every step.

Declared in the regularization bucket because its purpose is generalization, although
the optimizer applies it.
"""

from __future__ import annotations

from torch import nn

from ..knobs import Uniform, knob

WEIGHT_DECAY = knob(
    "weight_decay", bucket="regularization", default=5e-4, baseline=0.0, low=0.0, high=1.0,
    search=Uniform(1e-5, 1e-2, log=True),
    doc="L2 weight decay coefficient, applied by the optimizer to every parameter.",
)


def parameter_groups(section, model: nn.Module) -> list[dict]:
    """The optimizer's parameter groups with the recipe's weight decay."""
    return [{"params": [p for p in model.parameters() if p.requires_grad], "weight_decay": section.weight_decay}]
