"""Decode image files once, in parallel, into a uint8 cache keyed by their content and the size."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from .images import decode_chunk

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
    key = hashlib.blake2b(
        json.dumps([DECODER_VERSION, size, gray, content_digests(paths, root)]).encode(), digest_size=16
    ).hexdigest()
    entry = root / "decoded" / key
    if (entry / "meta.json").exists() and use_cache:
        failures = {int(k): v for k, v in json.loads((entry / "meta.json").read_text())["failures"].items()}
        return np.load(entry / "x.npy", mmap_mode="r"), failures, True
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=entry.parent))
    try:
        shape = (len(paths), 1 if gray else 3, size, size)
        x = np.lib.format.open_memmap(tmp / "x.npy", mode="w+", dtype=np.uint8, shape=shape)
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
    return np.load(entry / "x.npy", mmap_mode="r"), failures, False


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
