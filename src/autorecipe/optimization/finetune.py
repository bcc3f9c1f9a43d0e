"""Fine-tuning: a frozen backbone for the first epochs, and smaller learning rates for earlier layers.

Both take the network's layers in depth order, the head last (the training wing passes
`architecture.pretrained.layers(network)`).
"""

from __future__ import annotations

from torch import nn

from ..knobs import Interval, knob

FREEZE_EPOCHS = knob(
    "freeze_epochs", bucket="optimization", default=0, baseline=0, valid=Interval(int, 0, 100_000),
    doc="Epochs at the start of training in which only the head learns (the backbone is frozen).",
)
LAYER_LR_DECAY = knob(
    "layer_lr_decay", bucket="optimization", default=1.0, baseline=1.0, valid=Interval(float, 0.01, 1.0),
    doc="Layer-wise learning-rate decay: each layer learns at this factor times the rate of the layer "
        "after it (the head at the full rate); 1 = the same rate everywhere.",
)


def layerwise_groups(section, parts: list[nn.Module], groups: list[dict]) -> list[dict]:
    """Split parameter groups by layer (`parts`, in depth order), each with an `lr_scale` the training
    loop multiplies the rate by."""
    if section.layer_lr_decay == 1.0:
        return groups
    scale = {id(p): section.layer_lr_decay ** (len(parts) - 1 - depth)
             for depth, layer in enumerate(parts) for p in layer.parameters()}
    split = []
    for group in groups:
        by_scale: dict[float, list] = {}
        for p in group["params"]:
            by_scale.setdefault(scale.get(id(p), 1.0), []).append(p)
        split += [{**group, "params": params, "lr_scale": s} for s, params in by_scale.items()]
    return split


def freeze_backbone(section, parts: list[nn.Module], epoch: int) -> None:
    """Freeze every layer (of `parts`, in depth order) but the head during the first `freeze_epochs`
    epochs (1-based), then unfreeze."""
    if section.freeze_epochs:
        for layer in parts[:-1]:
            layer.requires_grad_(epoch > section.freeze_epochs)
