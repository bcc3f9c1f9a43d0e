"""Read a data source: an image folder, a CSV manifest, an .npz of arrays, or built-in digits."""

from __future__ import annotations

import csv
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AutorecipeError, AutorecipeWarning
from .images import IMAGE_EXTENSIONS

BUILTIN = ("digits",)
DATA_ROOT = "AUTORECIPE_DATA_ROOT"  # the environment variable that confines manifests' paths to one folder


@dataclass
class FileSource:
    """Image files with their class names."""

    paths: list[str]
    labels: list[str]
    description: str


@dataclass
class ArraySource:
    """Decoded images (N, H, W) or (N, H, W, C) uint8 with their class names."""

    x: np.ndarray
    labels: list[str]
    description: str
    classes: list[str] | None = None


def label_counts(spec) -> np.ndarray:
    """Images of each class in a DATA argument, read from its labels alone (nothing decoded)."""
    _, counts = np.unique(np.asarray(read_source(spec).labels, dtype=str), return_counts=True)
    return counts


def read_source(spec) -> FileSource | ArraySource:
    """Turn a DATA argument (path, built-in name or (x, y) arrays) into a source."""
    if isinstance(spec, tuple) and len(spec) == 2:
        return _arrays(np.asarray(spec[0]), np.asarray(spec[1]), "arrays")
    if not isinstance(spec, (str, Path)):
        raise AutorecipeError(
            f"data must be a folder, a .csv or .npz file, a built-in name ({', '.join(BUILTIN)}) "
            f"or an (x, y) pair of arrays; got {type(spec).__name__}")
    path = Path(spec).expanduser()
    if path.is_dir():
        return _folder(path)
    if path.is_file() and path.suffix.lower() == ".csv":
        return _manifest(path)
    if path.is_file() and path.suffix.lower() == ".npz":
        return _npz(path)
    if path.is_file():
        raise AutorecipeError(f"{path}: unsupported data file; use a folder of class subfolders, a .csv manifest or an .npz")
    if str(spec) == "digits":
        return _digits()
    raise AutorecipeError(
        f"{spec}: no such file or folder, and not a built-in dataset ({', '.join(BUILTIN)})")


def _folder(root: Path) -> FileSource:
    """One subfolder per class; image files anywhere below it."""
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise AutorecipeError(f"{root}: no class subfolders; put each class's images in a subfolder named after it")
    paths, labels = [], []
    for name in classes:
        files = sorted(
            str(f) for f in (root / name).rglob("*")
            if f.suffix.lower() in IMAGE_EXTENSIONS and f.is_file() and not f.name.startswith(".")
        )
        if not files:
            raise AutorecipeError(
                f"{root}: class {name!r} is empty (no {', '.join(IMAGE_EXTENSIONS)} files in {root / name})")
        paths += files
        labels += [name] * len(files)
    return FileSource(paths, labels, f"image folder {root}")


def _manifest(path: Path) -> FileSource:
    """A CSV of `path,label` rows; relative paths are relative to the CSV's folder. A row that repeats an earlier
    one is dropped with a warning (it would be drawn twice, and could land in training and validation both); a
    file listed under two labels is an error naming both lines."""
    paths, labels, first_line, repeats = [], [], {}, []
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:  # a BOM (Excel's "CSV UTF-8") is not a path
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise AutorecipeError(f"{path}: cannot read the CSV manifest: {error}") from None
    root = data_root()
    for line, row in enumerate(rows, 1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if line == 1 and [c.strip().lower() for c in row] == ["path", "label"]:
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise AutorecipeError(f"{path}, line {line}: expected two columns `path,label`, got {row!r}")
        file = Path(row[0].strip()).expanduser()
        file = file if file.is_absolute() else path.parent / file
        check_under_root(file, root, f"{path}, line {line}")
        key, label = os.path.normpath(file), row[1].strip()
        if key in first_line:
            earlier = first_line[key]
            if labels[earlier[1]] != label:
                raise AutorecipeError(f"{path}, lines {earlier[0]} and {line}: {file} is listed as "
                                      f"{labels[earlier[1]]!r} and as {label!r}; keep the right label")
            repeats.append((line, earlier[0]))
            continue
        first_line[key] = (line, len(paths))
        paths.append(str(file))
        labels.append(label)
    if not paths:
        raise AutorecipeError(f"{path}: the manifest lists no images")
    if repeats:
        warnings.warn(f"{path}: {len(repeats)} row(s) repeat an earlier row and were dropped (e.g. line "
                      f"{repeats[0][0]} repeats line {repeats[0][1]})", AutorecipeWarning, stacklevel=2)
    return FileSource(paths, labels, f"CSV manifest {path}")


def data_root() -> Path | None:
    """The folder that manifests' paths must lie under ($AUTORECIPE_DATA_ROOT, `autorecipe --data-root`), or None:
    any path."""
    root = os.environ.get(DATA_ROOT)
    return Path(root).expanduser().resolve() if root else None


def check_under_root(file: Path, root: Path | None, where: str) -> None:
    """Raise unless `file` (symbolic links followed) lies under `root`."""
    if root is not None and not file.resolve().is_relative_to(root):
        raise AutorecipeError(f"{where}: {file} lies outside the data root {root}; list files under it, or "
                              f"leave out --data-root")


def _npz(path: Path) -> ArraySource:
    """An .npz with `x` uint8 (N, H, W[, C]), `y` labels and optionally `classes` names."""
    check_zip(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = {"x", "y"} - set(archive.files)
            if missing:
                raise AutorecipeError(f"{path}: missing array(s) {', '.join(sorted(missing))}; "
                                      f"expected x (N, H, W[, C]) uint8 and y (N,) labels")
            x, y = archive["x"], archive["y"]
            classes = [str(c) for c in archive["classes"]] if "classes" in archive.files else None
    except (OSError, ValueError) as error:
        raise AutorecipeError(f"{path}: cannot read the .npz file: {error}") from None
    if classes is not None:
        if y.dtype.kind not in "iu" or len(y) and (y.min() < 0 or y.max() >= len(classes)):
            raise AutorecipeError(f"{path}: with `classes` given, y must hold indices 0..{len(classes) - 1}")
        source = _arrays(x, np.asarray(classes)[y], f"arrays {path}")
        source.classes = classes
        return source
    return _arrays(x, y, f"arrays {path}")


def check_zip(path: Path) -> None:
    """An .npz is a zip archive of .npy arrays: say so plainly when a file is not one."""
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as error:
        raise AutorecipeError(f"{path}: cannot read the .npz file: {error.strerror}") from None
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise AutorecipeError(f"{path}: not an .npz archive (a zip of arrays, as numpy.savez writes); write it with "
                              f"np.savez(path, x=images, y=labels)")


def check_images(x: np.ndarray, description: str) -> np.ndarray:
    """Image arrays must be uint8 (N, H, W) or (N, H, W, C) with C in 1, 3, 4; channels-first arrays, (N, C, H, W),
    are refused rather than read as images C pixels tall."""
    if x.dtype != np.uint8:
        raise AutorecipeError(f"{description}: x must be uint8 (0..255), got {x.dtype}; convert with x.astype('uint8')")
    if x.ndim == 4 and x.shape[1] in (1, 3, 4) and x.shape[2] > 4 * x.shape[1]:
        raise AutorecipeError(f"{description}: x of shape {x.shape} looks channels-first (N, C, H, W); images are "
                              f"(N, H, W, C): pass x.transpose(0, 2, 3, 1)")
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[3] not in (1, 3, 4)):
        raise AutorecipeError(f"{description}: x must have shape (N, H, W) or (N, H, W, C) with C in 1, 3, 4; "
                              f"got {x.shape}")
    return x


def _arrays(x: np.ndarray, y: np.ndarray, description: str) -> ArraySource:
    """Validate image arrays and their labels."""
    check_images(x, description)
    if y.ndim != 1 or len(y) != len(x):
        raise AutorecipeError(f"{description}: y must have one label per image: x has {len(x)}, y has shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.all(np.mod(y, 1) == 0):
            raise AutorecipeError(f"{description}: y holds non-integer numbers; labels must be integers or names")
        y = y.astype(np.int64)
    return ArraySource(x, [str(v) for v in y.tolist()], description)


def _digits() -> ArraySource:
    """scikit-learn's 1,797 8x8 handwritten digits, scaled to 0..255."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    return ArraySource(x, [str(v) for v in digits.target.tolist()], "built-in digits",
                       [str(i) for i in range(10)])
