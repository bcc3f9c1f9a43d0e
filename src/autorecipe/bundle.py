"""What a run folder holds to rebuild and run its model, and the checks that its files agree.

A run folder is a bundle: model.safetensors (the weights, with the input shape and class count
in its metadata), recipe.yaml (the network), classes.json (the outputs' names) and
inference.json (how an image becomes the model's input, and the temperature that calibrates its
probabilities). Runs saved before inference.json existed load with what it would have said,
uncalibrated. Everything is read as data: nothing in a run folder is imported or run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .errors import AutorecipeError
from .files import regular

INFERENCE = "inference.json"
FORMAT = 1
PREPROCESSING = (
    "Decode with Pillow (for a JPEG, draft mode at the nearest scale not below image_size); apply the EXIF "
    "orientation; scale 16-bit and 32-bit images to 8 bits; composite transparency onto white; convert to RGB "
    "(or L for gray); centre-crop to a square and resize to image_size x image_size with bilinear filtering "
    "(ImageOps.fit). The result, uint8 (H, W, C), is the exported graph's input.")


def inference_record(image_size: int, channels: str, mean: torch.Tensor, std: torch.Tensor, tta: str,
                     temperature: float | None, num_classes: int) -> dict:
    """inference.json: the model's input (size, colour, resizing, normalization) and its output (test-time
    augmentation, calibration)."""
    return {
        "format": FORMAT,
        "input": {"image_size": image_size, "channels": channels, "dtype": "uint8",
                  "layout": "(N, H, W, C) for the exported graphs; C = 1 for gray, 3 for RGB",
                  "preprocessing": PREPROCESSING},
        "normalization": {"scale": 1 / 255, "mean": mean.flatten().tolist(), "std": std.flatten().tolist(),
                          "formula": "(pixel / 255 - mean) / std, per channel"},
        "test_time_augmentation": tta,
        "temperature": 1.0 if temperature is None else temperature,
        "calibrated": temperature is not None,
        "num_classes": num_classes,
    }


def read_inference(path: Path) -> dict | None:
    """A run folder's inference.json, or None for a run saved before it existed; a damaged one is an error."""
    file = path / INFERENCE
    if not file.exists():
        return None
    try:
        record = json.loads(regular(file).read_text())
        temperature = float(record["temperature"])
        _ = (record["input"]["image_size"], record["input"]["channels"], record["num_classes"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise AutorecipeError(f"{file}: damaged ({type(error).__name__}: {error}); restore it from the run's "
                              f"copy, or delete it to load the model uncalibrated") from None
    if not np.isfinite(temperature) or temperature <= 0:
        raise AutorecipeError(f"{file}: temperature {temperature} is not a positive number")
    return record


def check_agreement(path: Path, metadata: dict, image_size: int, channels: str, classes, state: dict,
                    inference: dict | None) -> None:
    """Raise a clear error unless the weights, recipe, classes and inference.json describe one model."""
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise AutorecipeError(f"{path / 'classes.json'}: expected a non-empty list of class names")
    if len(set(classes)) != len(classes):
        raise AutorecipeError(f"{path / 'classes.json'}: a class name is listed twice")
    if "normalize.mean" not in state:
        raise AutorecipeError(f"{path / 'model.safetensors'}: not autorecipe weights (no normalize.mean); "
                              f"was it written by another program?")
    in_channels = state["normalize.mean"].shape[1]
    facts = {"number of classes": ("classes.json", len(classes), _meta_int(metadata, "num_classes")),
             "image size": ("recipe.yaml", image_size, _meta_int(metadata, "image_size")),
             "input channels": ("recipe.yaml", {"gray": 1, "rgb": 3}.get(channels), in_channels)}
    for name, (where, said, weights) in facts.items():
        if weights is not None and said is not None and said != weights:
            raise AutorecipeError(f"{path / where}: {name} {said}, but the weights were trained with {weights}; "
                                  f"was {where} edited, or are the files from different runs?")
    if inference is None:
        return
    said = {"number of classes": inference["num_classes"], "image size": inference["input"]["image_size"],
            "channels": inference["input"]["channels"]}
    expected = {"number of classes": len(classes), "image size": image_size, "channels": channels}
    for name, value in said.items():
        if value != expected[name]:
            raise AutorecipeError(f"{path / INFERENCE}: {name} {value}, but the run's other files say "
                                  f"{expected[name]}; are the files from different runs?")
    saved = np.asarray(inference.get("normalization", {}).get("mean", []), dtype=np.float64)
    if saved.shape != (in_channels,) or not np.allclose(saved, state["normalize.mean"].flatten().double().numpy(),
                                                        atol=1e-6):
        raise AutorecipeError(f"{path / INFERENCE}: its normalization does not match the weights'; are the files "
                              f"from different runs?")


def _meta_int(metadata: dict, key: str) -> int | None:
    """An integer from the weights' metadata (None when absent or not a number)."""
    try:
        return int(metadata[key])
    except (KeyError, TypeError, ValueError):
        return None
