"""Unlabeled images (for semi-supervised learning) from a folder, a CSV of paths, an .npz or an array,
decoded into the cache like labelled data, with the labelled, validation and test images among them left out."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import AutorecipeError
from .cache import decode_files
from .dataset import ImageData, convert_arrays
from .duplicates import found_in, pixel_digests
from .images import IMAGE_EXTENSIONS
from .sources import check_images, check_under_root, check_zip, data_root

IGNORE_HINT = ("give --unlabeled-ignore-labels (ignore_unlabeled_labels=True in Python) to use its images without "
               "their labels")


@dataclass
class UnlabeledData:
    """Decoded unlabeled images: rows `rows` of a uint8 (M, C, S, S) array (possibly memory-mapped)."""

    x: np.ndarray
    rows: np.ndarray
    description: str
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why) of files that did not decode
    excluded: int = 0  # images that are also labelled, validation or test images
    decode_seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.rows)

    def images(self) -> np.ndarray:
        """The images in use as one in-memory (N, C, S, S) uint8 array."""
        return np.ascontiguousarray(self.x[self.rows])

    def as_data(self, classes: list[str], true_labels=None) -> ImageData:
        """The images in use as ImageData labelled -1, or by `true_labels` (one a source image, in the
        source's order, class names or numbers among `classes`; others -1) to score pseudo-labels."""
        y = np.full(len(self.x), -1, dtype=np.int64)
        if true_labels is not None:
            true_labels = np.asarray(true_labels)
            if true_labels.shape != (len(self.x),):
                raise AutorecipeError(f"{self.description}: {len(self.x)} images but true labels of shape "
                                      f"{true_labels.shape}; give one label an image, in the source's order")
            index = {c: i for i, c in enumerate(classes)}
            y = np.array([index.get(str(v), -1) for v in true_labels.tolist()], dtype=np.int64)
        return ImageData(self.x, self.rows, y[self.rows], list(classes), self.description)


def load_unlabeled(spec, image_size: int, gray: bool, *, exclude: Sequence[ImageData] = (),
                   ignore_labels: bool = False, use_cache: bool = True,
                   on_progress: Callable[[int, int], None] | None = None) -> UnlabeledData:
    """Load unlabeled images at the labelled data's size and colour handling; images found in `exclude` (the
    labelled, validation and test sets) are left out and counted."""
    start = time.perf_counter()
    source, description = read_unlabeled(spec, ignore_labels=ignore_labels)
    skipped: list[tuple[str, str]] = []
    if isinstance(source, list):
        x, failures, _ = decode_files(source, image_size, gray, use_cache=use_cache, on_progress=on_progress)
        skipped = [(source[i], reason) for i, reason in sorted(failures.items())]
        rows = np.array([i for i in range(len(source)) if i not in failures], dtype=np.int64)
        if not len(rows):
            raise AutorecipeError(f"{description}: none of its {len(source)} image file(s) could be decoded, "
                                  f"e.g. {skipped[0][0]}: {skipped[0][1]}")
    else:
        x, rows = convert_arrays(source, image_size, gray), np.arange(len(source), dtype=np.int64)
    duplicate = found_in(pixel_digests(x, rows), [pixel_digests(d.x, d.rows) for d in exclude])
    return UnlabeledData(x, rows[~duplicate], description, skipped, int(duplicate.sum()),
                         time.perf_counter() - start)


def read_unlabeled(spec, *, ignore_labels: bool = False) -> tuple[list[str] | np.ndarray, str]:
    """An unlabeled source as (image file paths, or a uint8 (N, H, W[, C]) array) and its description."""
    if isinstance(spec, tuple):
        if not ignore_labels:
            raise AutorecipeError(f"unlabeled data: got a tuple of {len(spec)} (images and labels?); "
                                  f"pass the images alone, or {IGNORE_HINT}")
        spec = spec[0]
    if isinstance(spec, np.ndarray):
        return _check_array(spec, "unlabeled arrays"), "unlabeled arrays"
    if not isinstance(spec, (str, Path)):
        raise AutorecipeError(f"unlabeled data must be a folder, a .csv or .npz file or an array of images; "
                              f"got {type(spec).__name__}")
    path = Path(spec).expanduser()
    if path.is_dir():
        return _folder(path), f"unlabeled folder {path}"
    if path.is_file() and path.suffix.lower() == ".csv":
        return _manifest(path, ignore_labels), f"unlabeled CSV {path}"
    if path.is_file() and path.suffix.lower() == ".npz":
        return _npz(path, ignore_labels), f"unlabeled arrays {path}"
    if path.is_file():
        raise AutorecipeError(f"{path}: unsupported unlabeled data file; use a folder of images, a .csv of paths "
                              f"or an .npz with x")
    raise AutorecipeError(f"{spec}: no such file or folder (unlabeled data)")


def _folder(root: Path) -> list[str]:
    """Every image file under `root`, at any depth (subfolder names are not labels)."""
    paths = sorted(str(f) for f in root.rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS and f.is_file()
                   and not any(part.startswith(".") for part in f.relative_to(root).parts))
    if not paths:
        raise AutorecipeError(f"{root}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in it or its subfolders")
    return paths


def _manifest(path: Path, ignore_labels: bool) -> list[str]:
    """A CSV of image paths, one a row (a `path` header is optional; relative paths are relative to the CSV's
    folder); a second column (labels) is an error unless `ignore_labels`."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise AutorecipeError(f"{path}: cannot read the CSV: {error}") from None
    if rows and rows[0][0].strip().lower() == "path":
        if len(rows[0]) > 1 and not ignore_labels:
            raise AutorecipeError(f"{path}: has the column(s) {', '.join(c.strip() for c in rows[0][1:])} beside "
                                  f"`path`: unlabeled data takes paths alone; {IGNORE_HINT}")
        rows = rows[1:]
    paths, root = [], data_root()
    for row in rows:
        cells = [c.strip() for c in row]
        if not cells[0]:
            raise AutorecipeError(f"{path}: row {row!r} has no path in its first column")
        if len(cells) > 1 and any(cells[1:]) and not ignore_labels:
            raise AutorecipeError(f"{path}: row {row!r} has a second column (a label?): unlabeled data takes "
                                  f"paths alone; {IGNORE_HINT}")
        file = Path(cells[0]).expanduser()
        file = file if file.is_absolute() else path.parent / file
        check_under_root(file, root, str(path))
        paths.append(str(file))
    if not paths:
        raise AutorecipeError(f"{path}: the CSV lists no images")
    return paths


def _npz(path: Path, ignore_labels: bool) -> np.ndarray:
    """An .npz with `x` uint8 (N, H, W[, C]); a `y` is an error unless `ignore_labels`."""
    check_zip(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "x" not in archive.files:
                raise AutorecipeError(f"{path}: no array `x` (N, H, W[, C]) uint8; it holds "
                                      f"{', '.join(archive.files) or 'nothing'}")
            if "y" in archive.files and not ignore_labels:
                raise AutorecipeError(f"{path}: holds labels `y` beside `x`; {IGNORE_HINT}")
            x = archive["x"]
    except (OSError, ValueError) as error:
        raise AutorecipeError(f"{path}: cannot read the .npz file: {error}") from None
    return _check_array(x, f"unlabeled arrays {path}")


def _check_array(x: np.ndarray, description: str) -> np.ndarray:
    """Unlabeled image arrays must be images (sources.check_images), and at least one."""
    check_images(x, description)
    if not len(x):
        raise AutorecipeError(f"{description}: holds no images")
    return x
