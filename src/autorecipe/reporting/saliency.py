"""Where the model looked: Grad-CAM on the last convolution, or input-gradient saliency where there is none.

Grad-CAM (Selvaraju et al., 2017) weighs the last convolution's feature maps by the mean gradient of the
class's logit and keeps the positive part; a network without a convolution (an MLP, a transformer whose patch
embedding is linear, a user's own model) gets the gradient of the logit with respect to the input pixels
(Simonyan et al., 2014), which every differentiable model has.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def last_convolution(model: nn.Module) -> nn.Module | None:
    """The last 2-d convolution in module order; None when the model has none."""
    convolutions = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    return convolutions[-1] if convolutions else None


def saliency(model: nn.Module, images: torch.Tensor, classes: torch.Tensor) -> tuple[np.ndarray, str]:
    """Maps in [0, 1] of shape (N, H, W) for float images (N, C, H, W) in [0, 1] and the classes to explain;
    and the method used ("Grad-CAM" or "input gradient")."""
    model.eval()
    layer = last_convolution(model)
    if layer is not None:
        maps = _grad_cam(model, layer, images, classes)
        if maps is not None:
            return maps, "Grad-CAM"
    return _input_gradient(model, images, classes), "input gradient"


def _grad_cam(model: nn.Module, layer: nn.Module, images: torch.Tensor, classes: torch.Tensor) -> np.ndarray | None:
    """Grad-CAM maps, upsampled to the images' size; None when the layer's output is not (N, C, h, w) with
    h, w above 1 (nothing spatial to show)."""
    kept = {}

    def keep(_module, _inputs, output):
        if isinstance(output, torch.Tensor) and output.requires_grad:
            kept["activation"] = output

    handle = layer.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            logits = model(images)
            activation = kept.get("activation")
            if activation is None or activation.ndim != 4 or min(activation.shape[2:]) < 2:
                return None
            gradient, = torch.autograd.grad(logits.gather(1, classes[:, None]).sum(), activation)
    finally:
        handle.remove()
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * activation).sum(1, keepdim=True)).detach()
    cam = F.interpolate(cam.float(), size=images.shape[2:], mode="bilinear", align_corners=False)[:, 0]
    return _normalized(cam)


def _input_gradient(model: nn.Module, images: torch.Tensor, classes: torch.Tensor) -> np.ndarray:
    """The largest absolute gradient over the channels of each pixel."""
    x = images.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        gradient, = torch.autograd.grad(model(x).gather(1, classes[:, None]).sum(), x)
    return _normalized(gradient.abs().amax(1))


def _normalized(maps: torch.Tensor) -> np.ndarray:
    """Each map scaled to [0, 1] (a flat map becomes zeros)."""
    maps = maps.cpu().float()
    low = maps.flatten(1).min(1).values[:, None, None]
    high = maps.flatten(1).max(1).values[:, None, None]
    return ((maps - low) / (high - low).clamp_min(1e-12)).numpy()
