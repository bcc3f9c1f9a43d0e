"""Running a verb: the settings that hold for every verb, SIGTERM as Ctrl-C, warnings and errors in one line,
and the exit status."""

from __future__ import annotations

import os
import signal
import threading
import warnings
from pathlib import Path

from PIL import Image

from ..data.images import MAX_PIXELS
from ..data.sources import DATA_ROOT
from ..errors import AutorecipeError, AutorecipeWarning
from ..terminal import safe
from . import inspecting, model, training
from .console import environment, err
from .parser import build_parser

VERBS = {**training.VERBS, **model.VERBS, **inspecting.VERBS}
_python_show_warning = warnings.showwarning


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for user errors, 130 when interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.showwarning = _show_warning
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)  # such a file is skipped, with why
    terminate = signal.signal(signal.SIGTERM, _interrupt) if _main_thread() else None
    try:
        with environment(_settings(args)):
            return VERBS[args.verb](args) or 0
    except AutorecipeError as error:
        err.print(f"[bold red]error:[/] {safe(str(error))}", highlight=False, soft_wrap=True)
        return 2
    except OSError as error:
        if not _on_path(error, getattr(args, "out", None)):
            raise
        err.print(f"[bold red]error:[/] --out {safe(args.out)}: {safe(str(error))}; "
                  f"choose a folder you can write to", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt as interrupt:
        err.print(f"interrupted{': ' + safe(str(interrupt)) if str(interrupt) else ''}", highlight=False,
                  soft_wrap=True)
        return 130
    finally:
        if terminate is not None:
            signal.signal(signal.SIGTERM, terminate)


def _interrupt(signum, frame) -> None:
    """SIGTERM (a scheduler, `kill`, a container stopping) ends a verb as Ctrl-C does: the fit checkpoints, the
    search marks its trial to run again, and each says how to go on."""
    raise KeyboardInterrupt("terminated (SIGTERM)")


def _main_thread() -> bool:
    """Whether this is the main thread (only it may set signal handlers)."""
    return threading.current_thread() is threading.main_thread()


def _settings(args) -> dict[str, str | None]:
    """The options before the verb, which hold for every verb, as the environment variables that carry them."""
    root = None
    if args.data_root is not None:
        if not Path(args.data_root).expanduser().is_dir():
            raise AutorecipeError(f"--data-root {args.data_root}: no such folder")
        root = str(Path(args.data_root).expanduser().resolve())
    if args.max_pixels is not None and args.max_pixels < 1:
        raise AutorecipeError(f"--max-pixels {args.max_pixels}: must be a positive number of pixels")
    return {DATA_ROOT: root, MAX_PIXELS: None if args.max_pixels is None else str(args.max_pixels)}


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """autorecipe's warnings as one line ("warning: ..."); others as Python prints them."""
    if issubclass(category, AutorecipeWarning):
        err.print(f"[bold yellow]warning:[/] {safe(str(message))}", highlight=False, soft_wrap=True)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


def _on_path(error: OSError, out: str | None) -> bool:
    """Whether `error` is about the folder `out`: the folder itself, a file in it or a parent of it."""
    if out is None or error.filename is None:
        return False
    target, failed = Path(out).resolve(), Path(os.fsdecode(error.filename)).resolve()
    return failed == target or target in failed.parents or failed in target.parents
