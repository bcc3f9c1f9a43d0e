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


def sides(count: int, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gray uint8 images (N, size, size, 1) with a bright bar near the left (class 0) or right edge (class 1),
    on noise: a horizontal flip turns one class into the other."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 80, size=(count, size, size, 1)).astype(np.uint8)
    y = rng.integers(0, 2, size=count)
    for i in range(count):
        column = int(rng.integers(1, size // 3))
        column = column if y[i] == 0 else size - 1 - column
        top = int(rng.integers(0, size // 2))
        x[i, top:top + size // 2, column] = 230
    return x, y


def scene(seed: int, size: int = 48) -> Image.Image:
    """A distinct natural-looking RGB image a seed: soft coloured blobs over a wave, contrast stretched."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size, 3))
    for _ in range(6):
        cx, cy, r = rng.random(3)
        r = 0.05 + 0.3 * r
        img += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))[..., None] * rng.random(3)
    fx, fy = rng.integers(1, 5, 2)
    img += 0.3 * np.sin(2 * np.pi * (fx * xx + fy * yy) + rng.random() * 6)[..., None] * rng.random(3)
    img = (img - img.min()) / (img.max() - img.min() + 1e-9)
    return Image.fromarray((img * 255).astype(np.uint8))
