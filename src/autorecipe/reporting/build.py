"""`report`: one self-contained HTML file (images inline, no script, opens offline) for a run, a search or an
ablation folder, and summary.json with the same numbers."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import jinja2

from ..data.sources import BUILTIN
from ..errors import AutorecipeError
from ..files import write_atomic
from ..version import __version__
from .sections import ablation_sections, comparison_sections, finite, run_sections, search_sections

log = logging.getLogger("autorecipe")

FILE = "report.html"
SUMMARY = "summary.json"
MAX_BYTES = 10 * 2 ** 20  # the report stays under 10 MB
TEMPLATE = "report.html.j2"


def folder_kind(folder: Path) -> str:
    """run | search | ablation | comparison, by the files the folder holds."""
    if (folder / "search.json").is_file():
        return "search"
    if (folder / "plan.json").is_file() and (folder / SUMMARY).is_file():
        try:
            summary = json.loads((folder / SUMMARY).read_text())
        except (OSError, ValueError) as error:
            raise AutorecipeError(f"{folder / SUMMARY}: damaged ({error}); rerun the verb with --resume to rewrite "
                                  f"it") from None
        return "comparison" if "variants" in summary else "ablation"
    if (folder / "recipe.yaml").is_file() and (folder / "history.csv").is_file():
        return "run"
    raise AutorecipeError(f"{folder}: not a run, search, ablation or comparison folder (it holds no recipe.yaml and "
                          f"history.csv, no search.json, no plan.json with summary.json)")


def report(folder, *, data=None, val=None, device: str | None = None, trust_model_code: bool = False) -> Path:
    """Write `folder`/report.html and the report's numbers to `folder`/summary.json (a run's; a search's or an
    ablation's summary.json gains a "report" entry) and return the HTML's path. `data` and `val` replace the
    image sources a run recorded (for a run trained on arrays, or images that moved). A run trained on a model
    of your own is rebuilt only with `trust_model_code` (see Run.load); without it the results say so."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AutorecipeError(f"{folder}: no such folder")
    for flag, source in (("--data", data), ("--val", val)):
        if isinstance(source, (str, Path)) and str(source) not in BUILTIN and not Path(source).expanduser().exists():
            raise AutorecipeError(f"{flag} {source}: no such file or folder, and not a built-in dataset "
                                  f"({', '.join(BUILTIN)})")
    kind, began = folder_kind(folder), time.perf_counter()
    context = {"kind": kind, "folder": str(folder.resolve()), "version": __version__,
               "made": time.strftime("%Y-%m-%d %H:%M"), "sections": {}}
    if kind == "run":
        context["sections"] = run_sections(folder, data, val, device, trust_model_code)
    elif kind == "search":
        context["sections"]["search"] = search_sections(folder)
        final = folder / "final"
        if (final / "recipe.yaml").is_file() and (final / "history.csv").is_file():
            context["sections"].update(run_sections(final, data, val, device, trust_model_code))
            context["final"] = str(final)
    else:
        context["sections"][kind] = ablation_sections(folder) if kind == "ablation" else comparison_sections(folder)
    for section in context["sections"].values():  # every section has all three parts, for the template
        section.setdefault("note", None)
        section.setdefault("numbers", {})
        section.setdefault("figures", {})
    html = _render(context)
    if len(html.encode()) > MAX_BYTES:
        raise AutorecipeError(f"{folder}: the report came to {len(html.encode()) / 2 ** 20:.1f} MB, over the "
                              f"{MAX_BYTES // 2 ** 20} MB limit")
    path = folder / FILE
    write_atomic(path, html.encode())
    _write_summary(folder, kind, context)
    log.info("report written to %s in %.1f s", path, time.perf_counter() - began)
    return path


def _render(context: dict) -> str:
    environment = jinja2.Environment(loader=jinja2.PackageLoader("autorecipe", "reporting"),
                                     autoescape=True, undefined=jinja2.StrictUndefined,
                                     trim_blocks=True, lstrip_blocks=True)
    environment.filters["pct"] = lambda v, digits=1: "-" if v is None else f"{100 * v:.{digits}f}%"
    environment.filters["num"] = lambda v: "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)
    return environment.get_template(TEMPLATE).render(**context)


def _write_summary(folder: Path, kind: str, context: dict) -> None:
    """The sections' numbers: summary.json of a run; a "report" entry in a search's or ablation's."""
    numbers = finite({name: {"numbers": s.get("numbers", {}), **({"note": s["note"]} if s.get("note") else {})}
                      for name, s in context["sections"].items()})
    if kind == "run":
        content = {"kind": kind, **numbers}
    else:
        try:
            content = json.loads((folder / SUMMARY).read_text())
        except (OSError, ValueError):
            content = {}
        content["report"] = numbers
    write_atomic(folder / SUMMARY, json.dumps(content, indent=1).encode())
