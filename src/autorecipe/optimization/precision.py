"""Numeric precision and memory layout."""

from __future__ import annotations

import contextlib

import torch

from ..knobs import Choice, knob

PRECISION = knob(
    "precision", bucket="optimization", default="auto", baseline="fp32", choices=("auto", "fp32", "bf16"),
    search=Choice(("fp32", "bf16")),
    doc="Autocast precision; auto = bf16 on CUDA GPUs that support it and on CPUs with native "
        "bf16 matrix units (AMX), fp32 elsewhere.",
)
CHANNELS_LAST = knob(
    "channels_last", bucket="optimization", default=True, baseline=False, search=Choice((True, False)),
    doc="Store images and convolution weights channels-last (faster convolutions on GPUs and CPUs).",
)


def resolve_precision(section, device: torch.device) -> str:
    """The precision actually used on `device`: fp32 or bf16."""
    if section.precision != "auto":
        return section.precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if _cpu_has_amx() else "fp32"
    return "fp32"


def _cpu_has_amx() -> bool:
    try:
        return bool(torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False


def autocast(device: torch.device, precision: str):
    """A context that runs the forward pass in `precision`."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
