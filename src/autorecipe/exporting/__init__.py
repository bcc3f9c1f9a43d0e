"""Export a trained run for deployment: ONNX or TorchScript graphs that take uint8 images and return
calibrated probabilities, checked against PyTorch on export."""

from __future__ import annotations

from .export import Export, export

__all__ = ["Export", "export"]
