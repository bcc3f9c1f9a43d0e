"""Decode one image into a square uint8 array of the recipe's size and channel count.

Kept free of torch so that decoding worker processes start quickly.
"""

from __future__ import annotations

import os
import re

import numpy as np
from PIL import Image, ImageOps

from ..files import regular
from ..knobs import IntRange, Interval, Options, knob

MAX_PIXELS = "AUTORECIPE_MAX_PIXELS"  # the environment variable (`autorecipe --max-pixels`) of the decoding limit
DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own limit (a 9459 x 9459 image): larger files are refused, not decoded
BOMB = "a decompression bomb, or a very large image (raise the limit with autorecipe --max-pixels N)"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")
GRAY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
AUTO_SIZE_LIMITS = (16, 224)

IMAGE_SIZE = knob(
    "image_size", bucket="data", default=0, baseline=0, valid=Interval(int, 0, 1024),
    search=IntRange(16, 224, log=True),
    doc="Side of the square images in pixels, as the model is evaluated and exported (train_size may train "
        "smaller); 0 = automatic: the images' own size "
        "when they all share one (at most 224), else their median shorter side clipped to 16..224.",
)
CHANNELS = knob(
    "channels", bucket="data", default="auto", baseline="auto", valid=Options(("auto", "rgb", "gray")),
    doc="Colour handling: rgb, gray, or auto (gray only when every image is grayscale).",
)


def is_gray(image: Image.Image) -> bool:
    """Whether the image carries no colour (palette images count as colour)."""
    return image.mode in GRAY_MODES


def to_array(image: Image.Image, size: int, gray: bool) -> np.ndarray:
    """Convert any PIL image to a (C, size, size) uint8 array, C = 1 (gray) or 3 (RGB).

    Transparency is composited onto white, 16- and 32-bit images are scaled to 8 bits,
    EXIF orientation is applied, and the image is centre-cropped to a square.
    """
    image = ImageOps.exif_transpose(image)
    image = _to_8bit(image)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    image = image.convert("L" if gray else "RGB")
    if image.size != (size, size):
        image = ImageOps.fit(image, (size, size), method=Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if gray else array.transpose(2, 0, 1)


def _to_8bit(image: Image.Image) -> Image.Image:
    """Scale 16-bit, 32-bit integer and float images to the 0..255 range."""
    if image.mode not in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return image
    values = np.asarray(image, dtype=np.float64)
    top = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
    return Image.fromarray(np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")


def decode_file(path: str, size: int, gray: bool) -> np.ndarray:
    """Decode one file to a (C, size, size) uint8 array; raises on unreadable files (and on anything but a regular
    file: opening a FIFO or a device would wait forever)."""
    regular(path)
    limit = max_pixels()
    Image.MAX_IMAGE_PIXELS = limit  # Pillow itself refuses twice the limit, in its header check
    try:
        image = Image.open(path)
    except Image.DecompressionBombError as error:  # "Image size (N pixels) exceeds limit of ..."
        pixels = next(iter(re.findall(r"\d+", str(error))), "?")
        raise ValueError(f"{int(pixels):,} pixels, over the limit of {limit:,}: {BOMB}" if pixels != "?" else
                         f"over the limit of {limit:,} pixels: {BOMB}") from None
    with image:
        if image.width * image.height > limit:
            raise ValueError(f"{image.width} x {image.height} = {image.width * image.height:,} pixels, over the limit "
                             f"of {limit:,}: {BOMB}")
        image.seek(0)
        if image.format == "JPEG":
            image.draft("L" if gray else "RGB", (size, size))
        image.load()
        return to_array(image, size, gray)


def max_pixels() -> int:
    """The largest image (width x height) decoded: $AUTORECIPE_MAX_PIXELS, else Pillow's own limit."""
    value = os.environ.get(MAX_PIXELS, "")
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_MAX_PIXELS


def probe_file(path: str) -> tuple[int, bool] | None:
    """The shorter side and grayness of an image file, from its header; None if unreadable (or not a regular
    file: opening a FIFO would wait forever)."""
    if not os.path.isfile(path):
        return None
    try:
        with Image.open(path) as image:
            return min(image.size), is_gray(image)
    except Exception:
        return None


def decode_chunk(paths: list[str], size: int, gray: bool) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Decode many files; returns the stacked arrays of the readable ones and (index, reason) for the rest."""
    arrays, failures = [], []
    for i, path in enumerate(paths):
        try:
            arrays.append(decode_file(path, size, gray))
        except Exception as error:  # any decoder failure means the file is unusable
            failures.append((i, f"{type(error).__name__}: {error}"))
    channels = 1 if gray else 3
    stacked = np.stack(arrays) if arrays else np.zeros((0, channels, size, size), np.uint8)
    return stacked, failures


def choose_size(sides: list[int]) -> int:
    """The automatic image size: the shared size if all agree, else the clipped median."""
    if not sides:
        return 32
    low, high = AUTO_SIZE_LIMITS
    if min(sides) == max(sides):
        return min(sides[0], high)
    return int(np.clip(int(np.median(sides)), low, high))
