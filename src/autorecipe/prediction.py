"""Use a trained run: evaluate it on labelled data, predict classes of new images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .data.dataset import ImageData, convert_arrays, load_data
from .data.images import decode_file
from .data.loader import BatchLoader
from .device import choose_device
from .errors import AutorecipeError
from .inference import predict_logits, score
from .optimization.precision import resolve_precision
from .run import Run, as_run

BATCH = 256


def evaluate(run: Run | str | Path, data, device: str | None = None) -> dict:
    """Accuracy, loss, per-class accuracy and the confusion matrix of `run` on a labelled source."""
    run = as_run(run)
    images = data if isinstance(data, ImageData) else load_data(data, run.image_size, run.channels)
    images = images.with_classes(run.classes)
    if len(images) == 0:
        raise AutorecipeError(f"{images.description}: no readable images to evaluate")
    logits, labels = _logits(run, images, device)
    k = len(run.classes)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels, logits.argmax(1)), 1)
    support = confusion.sum(1)
    per_class = {c: float(confusion[i, i] / support[i]) for i, c in enumerate(run.classes) if support[i]}
    return {**score(logits, labels), "count": int(len(labels)), "per_class_accuracy": per_class,
            "confusion": confusion.tolist(), "skipped": [f for f, _ in images.skipped]}


def predict(run: Run | str | Path, images, top_k: int = 1, device: str | None = None) -> list[list[tuple[str, float]]]:
    """For each image, the `top_k` most likely (class, probability) pairs, most likely first.

    `images` is an image path, a list of paths, or a uint8 array (H, W[, C]) or (N, H, W[, C]).
    """
    run = as_run(run)
    if top_k < 1:
        raise AutorecipeError(f"--top-k {top_k}: must be at least 1")
    x = _decode(images, run.image_size, run.channels == "gray")
    data = ImageData(x, np.arange(len(x)), np.zeros(len(x), dtype=np.int64), run.classes)
    logits, _ = _logits(run, data, device)
    probs = torch.softmax(torch.from_numpy(logits), dim=1)
    top = probs.topk(min(top_k, len(run.classes)), dim=1)
    return [[(run.classes[i], float(p)) for p, i in zip(ps.tolist(), ix.tolist())]
            for ps, ix in zip(top.values, top.indices)]


def _logits(run: Run, data: ImageData, device: str | None) -> tuple[np.ndarray, np.ndarray]:
    dev = choose_device(device)
    model = run.model.to(dev)
    opt = run.recipe.optimization
    batches = BatchLoader(data, dev, BATCH, shuffle=False)
    return predict_logits(model, batches, dev, resolve_precision(opt, dev), opt.channels_last,
                          run.recipe.regularization.tta)


def _decode(images, size: int, gray: bool) -> np.ndarray:
    """Paths or arrays to a (N, C, size, size) uint8 array."""
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8:
            raise AutorecipeError(f"images must be uint8 (0..255), got {images.dtype}")
        single = images.ndim == 2 or (images.ndim == 3 and images.shape[2] in (1, 3, 4))
        return convert_arrays(images[None] if single else images, size, gray)
    paths = [images] if isinstance(images, (str, Path)) else list(images)
    if not paths:
        raise AutorecipeError("no images given to predict")
    arrays = []
    for path in paths:
        try:
            arrays.append(decode_file(str(path), size, gray))
        except FileNotFoundError:
            raise AutorecipeError(f"{path}: no such image file") from None
        except Exception as error:
            raise AutorecipeError(f"{path}: cannot read the image ({type(error).__name__}: {error})") from None
    return np.stack(arrays)
