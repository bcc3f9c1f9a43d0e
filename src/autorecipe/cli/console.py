"""What the verbs share: the terminal's two consoles, settings carried as environment variables, the report
written at the end of a verb, and the formats of scores."""

from __future__ import annotations

import contextlib
import os

from rich.console import Console

from ..errors import AutorecipeError
from ..terminal import safe

out = Console()
err = Console(stderr=True)


@contextlib.contextmanager
def environment(values: dict[str, str | None]):
    """Set the environment variables of `values` that are not None for the block, then put them back (main()
    called from Python leaves the environment as it was). Settings travel as environment variables so that
    decoding threads and worker processes see them too."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update({name: value for name, value in values.items() if value is not None})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def write_report(folder, device: str | None, trust_model_code: bool = False) -> None:
    """The report at the end of a verb; a failure is a warning (the verb's own results are saved already)."""
    from ..reporting import report
    try:
        path = report(folder, device=device, trust_model_code=trust_model_code)
    except (AutorecipeError, OSError, ValueError, RuntimeError) as error:
        err.print(f"[yellow]warning:[/] report not written ({safe(str(error))}); "
                  f"`autorecipe report {safe(str(folder))}` tries again", highlight=False, soft_wrap=True)
        return
    out.print(f"report: {safe(str(path))}", highlight=False, soft_wrap=True)


def calibration_text(record: dict) -> str:
    """'temperature 1.42: expected calibration error 5.10% -> 1.20%', or why calibration was skipped."""
    if "skipped" in record:
        return f"skipped: {record['skipped']}"
    return (f"temperature {record['temperature']:.3f}: expected calibration error {pct(record['ece_before'])} -> "
            f"{pct(record['ece_after'])}")


def within(interval) -> str:
    """' (95%: 54.3-67.8%)' for an accuracy's interval, or nothing."""
    return "" if not interval else f" (95%: {100 * interval[0]:.1f}-{100 * interval[1]:.1f}%)"


def pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def num(value) -> str:
    return "-" if value is None else f"{value:.4f}"
