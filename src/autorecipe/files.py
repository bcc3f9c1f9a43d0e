"""Crash-safe file writes (write to a temporary name, then rename into place), and reads of regular files only."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def regular(path: Path | str) -> Path:
    """`path`, to read; an OSError when it exists but is not a regular file (reading a FIFO or a device would wait
    forever, and a folder cannot be read)."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise OSError(errno.EINVAL, "not a regular file (a folder, a FIFO or a device)", str(path))
    return path


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never half."""
    with atomic_file(path) as f:
        f.write(data)


@contextmanager
def atomic_file(path: Path, mode: str = "wb") -> Iterator[IO]:
    """A file opened for writing under a temporary name beside `path`, renamed to `path` when the block ends
    (removed if it raises): readers see the old file or the new one, never half. `mode`: "wb", or "w" for
    text (with newline="" for the csv module).

    The file's mode follows the umask, as for any file the user writes (mkstemp's own is 0600,
    which would hide a model from a teammate or a serving container)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):  # POSIX
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode, **({} if "b" in mode else {"newline": ""})) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
