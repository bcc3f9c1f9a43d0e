"""Small images made in the tests: learnable patterns saved in every colour mode."""

from __future__ import annotations

import numpy as np
from PIL import Image


def pattern(label: int, size: int = 16, seed: int = 0) -> np.ndarray:
    """An RGB uint8 image whose colour and stripes depend on the label (learnable), plus noise."""
    rng = np.random.default_rng(seed)
    img = np.zeros((size, size, 3), np.float64)
    img[..., label % 3] = 180
    img[:, :: 2 + label % 3, :] += 60
    img += rng.normal(0, 10, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


MODES = ("RGB", "RGBA", "L", "CMYK", "P", "LA", "I;16", "1")


def save_as(array: np.ndarray, path, mode: str) -> None:
    """Save an RGB array converted to `mode`, in a format that supports it."""
    image = Image.fromarray(array, "RGB")
    if mode == "I;16":
        gray = np.asarray(image.convert("L")).astype(np.uint16) * 257
        Image.fromarray(gray).save(path.with_suffix(".png"))
        return
    converted = image.convert(mode)
    suffix = {"CMYK": ".jpg", "P": ".gif", "1": ".bmp"}.get(mode, ".png")
    converted.save(path.with_suffix(suffix))
