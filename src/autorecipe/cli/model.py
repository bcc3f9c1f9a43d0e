"""The verbs that use a trained run: evaluate, predict and export, each printing what it found."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from ..terminal import safe
from .console import err, out, pct

SHOWN_PREDICTIONS = 50  # images `predict` shows in its table without --out


def _load(args):
    """The run folder DIR of evaluate, predict and export, loaded as data (its model code only when trusted)."""
    from ..run import Run
    return Run.load(args.run, trust_model_code=args.trust_model_code)


def _evaluate(args) -> int:
    from ..run import evaluate
    result = evaluate(_load(args), args.data, device=args.device, top_k=args.top_k)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    table = Table(title=f"{safe(str(args.data))}: {result['count']:,} images")
    for column in ("class", "images", "accuracy (recall)", "precision", "F1"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, row in result["per_class"].items():
        table.add_row(safe(name), f"{row['support']:,}", pct(row["recall"]), pct(row["precision"]), pct(row["f1"]))
    table.add_section()
    table.add_row("[bold]all", f"{result['count']:,}", f"[bold]{pct(result['accuracy'])}", "", "")
    out.print(table)
    out.print(f"balanced accuracy {pct(result['balanced_accuracy'])}, macro-F1 {pct(result['macro_f1'])}, "
              f"top-{result['top_k']} accuracy {pct(result['top_k_accuracy'])}, loss {result['loss']:.4f}, "
              f"expected calibration error {pct(result['ece'])}"
              f"{'' if result['calibrated'] else ' (uncalibrated)'}"
              + (f"; {len(result['skipped'])} unreadable file(s) skipped" if result["skipped"] else ""),
              highlight=False)
    return 0


def _predict(args) -> int:
    from rich.progress import Progress

    from ..predicting import predict_source, write_predictions
    with Progress(console=err, transient=True, disable=args.quiet or args.json) as progress:
        task = progress.add_task("predicting", total=None)
        rows = predict_source(_load(args), args.images, top_k=args.top_k, tta=args.tta, batch_size=args.batch_size,
                              device=args.device,
                              on_progress=lambda done, total: progress.update(task, completed=done, total=total))
        if args.out:
            counts = write_predictions(rows, Path(args.out), args.top_k)
        else:
            rows = list(rows)
            counts = {"images": len(rows), "unreadable": sum(bool(r.error) for r in rows)}
    if args.json and not args.out:
        print(json.dumps([{"image": r.image, "predictions": [{"class": c, "probability": p} for c, p in r.top],
                           **({"error": r.error} if r.error else {})} for r in rows], indent=2))
        return 0
    if not args.out:
        table = Table()
        for column in ("image", "class", "probability"):
            table.add_column(column, justify="right" if column == "probability" else "left", overflow="fold")
        for row in rows[:SHOWN_PREDICTIONS]:
            if row.error:
                table.add_row(safe(row.image), "[red]unreadable", safe(row.error))
            for rank, (name, probability) in enumerate(row.top):
                table.add_row(safe(row.image) if rank == 0 else "", safe(name), f"{probability:.4f}")
        out.print(table)
        if len(rows) > SHOWN_PREDICTIONS:
            out.print(f"the first {SHOWN_PREDICTIONS} of {len(rows):,} images shown; --out FILE.csv writes them all",
                      highlight=False)
    unreadable = f", {counts['unreadable']:,} unreadable (their reasons in the error column)" if counts[
        "unreadable"] else ""
    written = f": {safe(args.out)}" if args.out else ""
    err.print(f"predicted {counts['images'] - counts['unreadable']:,} of {counts['images']:,} images"
              f"{unreadable}{written}", highlight=False, soft_wrap=True)
    return 0


def _export(args) -> int:
    from ..exporting import export
    written = export(_load(args), format=args.format, out=args.out, batch=args.batch)
    meta = written.metadata
    if args.json:
        print(json.dumps(meta, indent=1))
        return 0
    shape = "x".join("N" if n == "batch" else str(n) for n in meta["input"]["shape"])
    check = meta["parity"]
    out.print(f"exported {safe(str(written.path))}: uint8 {shape} images -> {len(meta['classes'])} "
              f"{'calibrated ' if meta['calibrated'] else ''}probabilities", highlight=False, soft_wrap=True)
    out.print(f"parity with PyTorch: largest difference {check['max_abs_difference']:.1e} over {check['images']} "
              f"images in {safe(check['runtime'])} (tolerance {check['tolerance']:g})", highlight=False,
              soft_wrap=True)
    out.print(f"metadata: {safe(str(written.metadata_path))}", highlight=False, soft_wrap=True)
    return 0


VERBS = {"evaluate": _evaluate, "predict": _predict, "export": _export}
