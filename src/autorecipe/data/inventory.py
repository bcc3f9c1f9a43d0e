"""What a data source holds, read from its labels and image headers without decoding: images per class,
image sizes and colour modes (the unreadable files are what decoding skipped)."""

from __future__ import annotations

from collections import Counter

import numpy as np
from PIL import Image

from .sources import FileSource, read_source

COMMON = 5  # sizes and modes listed by frequency


def inventory(spec) -> dict:
    """Class counts, image sizes (width x height) and colour modes of a DATA argument."""
    source = read_source(spec)
    classes, counts = np.unique(np.asarray(source.labels, dtype=str), return_counts=True)
    if isinstance(source, FileSource):
        headers = [_header(p) for p in source.paths]
        sizes = Counter(f"{w}x{h}" for w, h, _ in filter(None, headers))
        modes = Counter(mode for _, _, mode in filter(None, headers))
        sides = [min(w, h) for w, h, _ in filter(None, headers)]
    else:
        x = source.x
        shape = f"{x.shape[2]}x{x.shape[1]}"
        sizes = Counter({shape: len(x)})
        modes = Counter({"L" if x.ndim == 3 or x.shape[3] == 1 else {3: "RGB", 4: "RGBA"}.get(x.shape[3], "?"): len(x)})
        sides = [min(x.shape[1:3])] * len(x)
    return {"description": source.description, "images": len(source.labels),
            "classes": {str(c): int(n) for c, n in zip(classes, counts)},
            "sizes": dict(sizes.most_common(COMMON)), "distinct_sizes": len(sizes),
            "shorter_side": {"min": int(min(sides)), "median": float(np.median(sides)), "max": int(max(sides))}
            if sides else None,
            "modes": dict(modes.most_common(COMMON))}


def _header(path: str) -> tuple[int, int, str] | None:
    """Width, height and mode from a file's header; None when it cannot be opened."""
    try:
        with Image.open(path) as image:
            return image.size[0], image.size[1], image.mode
    except Exception:  # an unreadable file: decoding skips it and says why
        return None
