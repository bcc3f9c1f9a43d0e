"""Decode image files once, in parallel, into a uint8 cache keyed by their content and the size."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from stat import S_ISREG

import numpy as np

from ..errors import AutorecipeError
from .images import decode_chunk, max_pixels

log = logging.getLogger("autorecipe")

DECODER_VERSION = 1  # bump when decoding changes, so stale caches are not reused
SERIAL_BELOW = 512   # fewer files than this decode in one thread


def cache_root() -> Path:
    """$AUTORECIPE_CACHE, else $XDG_CACHE_HOME/autorecipe, else ~/.cache/autorecipe."""
    if os.environ.get("AUTORECIPE_CACHE"):
        return Path(os.environ["AUTORECIPE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "autorecipe"


def content_digests(paths: list[str], root: Path) -> list[str]:
    """A digest of each file's bytes ("" if unreadable), re-read only when size or mtime changed."""
    root.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(root / "file-digests.sqlite", timeout=60) as db:
        db.execute("CREATE TABLE IF NOT EXISTS digests (path TEXT PRIMARY KEY, size INT, mtime INT, digest TEXT)")
        known = {row[0]: row[1:] for row in db.execute("SELECT path, size, mtime, digest FROM digests")}
        digests, updates = [], []
        for path in paths:
            try:
                stat = os.stat(path)
            except OSError:
                digests.append("")
                continue
            if not S_ISREG(stat.st_mode):  # reading a FIFO or a device would wait forever; decoding says why
                digests.append("")
                continue
            seen = known.get(path)
            if seen and seen[0] == stat.st_size and seen[1] == stat.st_mtime_ns:
                digests.append(seen[2])
                continue
            try:
                with open(path, "rb") as f:
                    digest = hashlib.blake2b(f.read(), digest_size=16).hexdigest()
            except OSError:
                digests.append("")
                continue
            digests.append(digest)
            updates.append((path, stat.st_size, stat.st_mtime_ns, digest))
        db.executemany("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?)", updates)
    return digests


def decode_files(
    paths: list[str],
    size: int,
    gray: bool,
    *,
    use_cache: bool = True,
    workers: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, dict[int, str], bool]:
    """Decode `paths` to an (N, C, size, size) uint8 array (memory-mapped from the cache).

    Returns the array, {index: reason} for files that could not be decoded (their rows
    are zeros), and whether the cache already held the result.
    """
    root = cache_root()
    try:
        digests = content_digests(paths, root)
    except (OSError, sqlite3.Error) as error:
        raise AutorecipeError(f"the decode cache {root} cannot be used ({error}); free space there, or set "
                              f"AUTORECIPE_CACHE to a folder on a disk with room") from None
    key = hashlib.blake2b(json.dumps([DECODER_VERSION, size, gray, max_pixels(), digests]).encode(),
                          digest_size=16).hexdigest()
    entry = root / "decoded" / key
    shape = (len(paths), 1 if gray else 3, size, size)
    if use_cache and (entry / "meta.json").exists():
        found = _read_entry(entry, shape)
        if found is not None:
            return (*found, True)
    try:
        failures = _write_entry(entry, key, shape, paths, size, gray, workers, on_progress)
    except OSError as error:
        raise AutorecipeError(f"the decode cache {root} is full or cannot be written ({error.strerror or error}); "
                              f"free space there, or set AUTORECIPE_CACHE to a folder on a disk with room") from None
    return np.load(entry / "x.npy", mmap_mode="r"), failures, False


def _read_entry(entry: Path, shape: tuple[int, ...]) -> tuple[np.ndarray, dict[int, str]] | None:
    """A cache entry's images and failures; None (and the entry removed, to be decoded again) when it is
    damaged: cut short by a full disk or a crash of another program, or edited."""
    try:
        failures = {int(k): v for k, v in json.loads((entry / "meta.json").read_text())["failures"].items()}
        x = np.load(entry / "x.npy", mmap_mode="r")
        if x.shape != shape or x.dtype != np.uint8:
            raise ValueError(f"holds {x.shape} {x.dtype}, expected {shape} uint8")
        return x, failures
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        log.warning("damaged cache entry %s (%s): removed, the images are decoded again", entry, error)
        shutil.rmtree(entry, ignore_errors=True)
        return None


def _write_entry(entry: Path, key: str, shape: tuple[int, ...], paths, size, gray, workers, on_progress) -> dict:
    """Decode into a new cache entry, written under a temporary name and renamed when complete; its disk space
    is reserved first, so that a full disk is an error, not a crash (SIGBUS) while the memory map is filled."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=entry.parent))
    try:
        x = np.lib.format.open_memmap(tmp / "x.npy", mode="w+", dtype=np.uint8, shape=shape)
        if hasattr(os, "posix_fallocate"):  # Linux and most POSIX systems
            with open(tmp / "x.npy", "r+b") as f:
                os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
        failures = _decode_into(x, paths, size, gray, workers, on_progress)
        x.flush()
        del x
        (tmp / "meta.json").write_text(json.dumps({"failures": failures, "size": size, "gray": gray,
                                                   "files": len(paths), "created": time.time()}))
        if entry.exists():  # another process finished first; keep theirs
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, entry)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return failures


def _decode_into(x, paths, size, gray, workers, on_progress) -> dict[int, str]:
    """Fill `x` with decoded images, in worker threads when there are many (Pillow releases the GIL
    while it decodes and resizes; threads, unlike spawned processes, need no `__main__` guard in
    the user's script)."""
    failures: dict[int, str] = {}
    workers = workers or os.cpu_count() or 1
    chunk = max(64, min(1024, len(paths) // (workers * 4) + 1))
    starts = list(range(0, len(paths), chunk))
    done = 0

    def store(start: int, result) -> None:
        nonlocal done
        arrays, failed = result
        bad = {i for i, _ in failed}
        rows = [start + i for i in range(min(chunk, len(paths) - start)) if i not in bad]
        if rows:
            x[rows] = arrays
        failures.update({start + i: reason for i, reason in failed})
        done += min(chunk, len(paths) - start)
        if on_progress:
            on_progress(done, len(paths))

    if len(paths) < SERIAL_BELOW or workers == 1:
        for start in starts:
            store(start, decode_chunk(paths[start:start + chunk], size, gray))
        return failures
    with ThreadPoolExecutor(workers) as pool:
        futures = {pool.submit(decode_chunk, paths[s:s + chunk], size, gray): s for s in starts}
        for future in as_completed(futures):
            store(futures[future], future.result())
    return failures
