"""The verbs that show what is there: a search's trials (show-study), the knobs and a recipe."""

from __future__ import annotations

import json

from rich.table import Table

from ..errors import AutorecipeError
from ..terminal import safe
from .console import out


def _show_study(args) -> int:
    from ..searching.display import trials_table
    from ..searching.results import trials_rows
    from ..searching.search import load_study
    study = load_study(args.run)
    if args.json:
        print(json.dumps(trials_rows(study), indent=1))
    else:
        out.print(trials_table(study))
    return 0


def _knobs(args) -> int:
    from ..architecture.registry import honoured_by
    from ..knobs import BUCKETS, lookup_knob, registry
    if args.bucket and args.bucket not in BUCKETS:
        raise AutorecipeError(f"--bucket {args.bucket}: unknown bucket; valid buckets: {', '.join(BUCKETS)}")
    chosen = [lookup_knob(name) for name in args.names] if args.names else list(registry().values())
    chosen = [knob for knob in chosen if args.bucket in (None, knob.bucket)]
    if args.json:
        print(json.dumps([{"name": k.name, "bucket": k.bucket, "default": k.default, "baseline": k.baseline,
                           "valid": k.valid_values(), "search": str(k.search) if k.search else None,
                           "models": honoured_by(k.name), "doc": k.help} for k in chosen], indent=1))
        return 0
    if not args.names:  # one line a knob; `autorecipe knobs NAME` tells the rest
        for bucket in BUCKETS:
            knobs = [knob for knob in chosen if knob.bucket == bucket]
            if knobs:
                table = Table(title=f"{bucket} ({len(knobs)} knobs)", title_justify="left", box=None)
                for column in ("knob", "default", "baseline", "search range"):
                    table.add_column(column, overflow="fold")
                for knob in knobs:
                    table.add_row(f"[cyan]{knob.name}", str(knob.default), str(knob.baseline),
                                  safe(str(knob.search or "-")))
                out.print(table)
        out.print("details: autorecipe knobs NAME [NAME ...]; everything: autorecipe knobs --json", highlight=False)
        return 0
    for knob in chosen:
        out.print(f"[bold cyan]{knob.name}[/] ({knob.bucket})   default {knob.default}   baseline {knob.baseline}",
                  highlight=False)
        out.print(f"  valid: {safe(knob.valid_values())}", highlight=False)
        out.print(f"  search: {safe(str(knob.search or '-'))}", highlight=False)
        models = honoured_by(knob.name)
        if models:
            out.print(f"  models: {', '.join(models)}", highlight=False)
        out.print(f"  {safe(knob.help)}", highlight=False)
    return 0


def _recipe(args) -> int:
    from ..recipe import Recipe
    recipe = Recipe.load(args.recipe) if args.recipe else Recipe()
    print(recipe.with_overrides(args.overrides).to_yaml(), end="")
    return 0


VERBS = {"show-study": _show_study, "knobs": _knobs, "recipe": _recipe}
