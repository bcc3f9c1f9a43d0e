"""The verbs that train: fit, search, ablate, compare, diagnose and report, each printing what it found."""

from __future__ import annotations

import json

from rich.table import Table

from ..terminal import safe
from .console import calibration_text, environment, err, num, out, pct, within, write_report


def _fit(args) -> int:
    from ..fitting import fit
    from ..training.display import RichProgress, lr_text

    def show(role: str, images) -> None:
        size = f"{images.image_size}x{images.image_size} {'gray' if images.channels == 1 else 'RGB'}"
        skipped = f", {len(images.skipped)} unreadable file(s) skipped (see run.log)" if images.skipped else ""
        err.print(f"{role}: {len(images):,} images, {len(images.classes)} classes, {size} "
                  f"from {safe(images.description)}{skipped}", highlight=False, soft_wrap=True)

    run = fit(args.data, val=args.val, test=args.test, recipe=args.recipe, model=args.model, overrides=args.overrides,
              epochs=args.epochs, budget=args.budget, time_budget=args.time_budget, device=args.device, out=args.out,
              seed=args.seed, val_fraction=args.val_fraction, auto_lr=args.auto_lr, auto_batch=args.auto_batch,
              progress=False if args.quiet else RichProgress(err), on_data=show, unlabeled=args.unlabeled,
              ignore_unlabeled_labels=args.unlabeled_ignore_labels, resume=args.resume, metric=args.metric,
              flagged=args.flagged, flagged_action=args.flagged_action, overwrite=args.overwrite)
    m = run.metrics
    table = Table(title="autorecipe fit", show_header=False)
    rows = [("status", m["status"]), ("best epoch", f"{m['best_epoch'] or '-'} of {m['epochs_run']}"),
            ("validation accuracy", pct(m["val_accuracy"]) + within(m.get("val_accuracy_interval"))),
            ("validation balanced accuracy", pct(m.get("val_balanced_accuracy"))),
            ("validation macro-F1", pct(m.get("val_macro_f1"))),
            ("validation loss", num(m["val_loss"]))]
    if m.get("metric") not in (None, "accuracy"):
        rows.append(("kept epoch chosen by", m["metric"].replace("_", " ")))
    if "flagged_images" in m:
        rows.append(("flagged labels", f"{m['flagged_images']} training images "
                                       f"{'dropped' if m['flagged_action'] == 'drop' else 'down-weighted'}"))
    if "test_accuracy" in m:
        rows += [("test accuracy", pct(m["test_accuracy"])),
                 ("test balanced accuracy", pct(m.get("test_balanced_accuracy"))), ("test loss", num(m["test_loss"]))]
    if "calibration" in m:
        rows.append(("calibration", calibration_text(m["calibration"])))
    if "num_unlabeled" in m:
        rows += [("unlabeled images", f"{m['num_unlabeled']:,} ({m['unlabeled_excluded']:,} also labelled, "
                                      f"validation or test, left out; {m['unlabeled_skipped']:,} unreadable)"),
                 ("pseudo-labels kept", pct(m["mask_rate"]) if "mask_rate" in m else "-")]
    rows += [("training time", f"{m['train_seconds']:.1f} s"), ("decode time", f"{m['decode_seconds']:.1f} s"),
             ("throughput", f"{m['images_per_second'] or 0:,.0f} images/s"),
             ("device", f"{m['device']} ({m['precision']}), batch {m['batch_size']}"),
             ("learning rate", lr_text(m["lr"], m["peak_lr"], m["batch_size"]))]
    for key, value in rows:
        table.add_row(key, str(value))
    out.print(table)
    if m["best_epoch"] is None:
        err.print(f"[bold red]error:[/] training {m['status']} before its first epoch ended: no model saved; the "
                  f"record is in {safe(str(run.path))}", soft_wrap=True, highlight=False)
    else:
        out.print(f"saved to {safe(str(run.path))}", soft_wrap=True, highlight=False)
    if m["status"] == "diverged":
        kept = "; the model saved is the best before that" if m["best_epoch"] else ""
        err.print("[bold red]error:[/] the training loss became infinite or NaN: lower the learning rate "
                  f"(--set lr=...), or let --auto-lr choose it{kept}", soft_wrap=True, highlight=False)
        return 1
    if m["status"] != "interrupted" and not args.no_report and m["best_epoch"] is not None:
        write_report(run.path, device=args.device, trust_model_code=True)  # the model this fit was given
    if m["status"] == "interrupted":
        out.print(f"continue it with: autorecipe fit --resume {safe(str(run.path))}", soft_wrap=True,
                  highlight=False)
    return 130 if m["status"] == "interrupted" else 0


def _search(args) -> int:
    """search, with a database worker's heartbeat and grace period (settings carried as environment variables)."""
    from ..searching.storage import GRACE, HEARTBEAT
    beats = {HEARTBEAT: args.heartbeat, GRACE: args.grace}
    with environment({name: None if value is None else str(value) for name, value in beats.items()}):
        return _searched(args)


def _searched(args) -> int:
    from ..searching import search
    from ..searching.display import LiveTrials
    parts = (args.budget, f"{args.trials} trials" if args.trials is not None else None,
             f"{args.time_budget:g}s" if args.time_budget is not None else None)
    budget = ", ".join(part for part in parts if part) or None
    overrides = args.overrides + ([f"model={args.model}"] if args.model else [])
    result = search(args.data, val=args.val, test=args.test, budget=budget, recipe=args.recipe, overrides=overrides,
                    epochs=args.epochs, space=args.space,
                    buckets=[b.strip() for b in args.buckets.split(",")] if args.buckets else None,
                    sampler=args.sampler, pruner=args.pruner, min_epochs=args.min_epochs, cv=args.cv,
                    storage=args.storage, study_name=args.study_name, resume=args.resume,
                    library=False if args.no_library else args.library, retrain=not args.no_retrain,
                    retrain_on_all=args.retrain_on_all,
                    out=args.out, seed=args.seed, device=args.device, val_fraction=args.val_fraction,
                    progress=False if args.quiet else LiveTrials(err), unlabeled=args.unlabeled,
                    ignore_unlabeled_labels=args.unlabeled_ignore_labels, metric=args.metric)
    found = result.counts
    if result.status == "interrupted":  # one line: where it stands and how to go on
        out.print(f"search interrupted: {found['complete']} complete, {found['pruned']} pruned, "
                  f"{found['failed']} failed trials; best so far trial {result.best_trial}: {pct(result.score)} "
                  f"({result.path / 'best_recipe.yaml'}); resume it with --resume --out {result.path}",
                  soft_wrap=True, highlight=False)
        return 130
    table = Table(title="autorecipe search", show_header=False)
    rows = [("status", result.status), ("chosen trial", f"{result.best_trial}: {pct(result.score)}"),
            ("trials", f"{found['complete']} complete, {found['pruned']} pruned, {found['failed']} failed")]
    if result.verdict is not None:
        rows.append(("against the base recipe", result.verdict.sentence()))
    rows += [(f"importance: {bucket}", f"{value:.2f}") for bucket, value in result.bucket_importance.items()]
    if result.importance_note:
        rows.append(("importance", result.importance_note))
    if result.run is not None and result.run.metrics["val_accuracy"] is not None:
        rows.append(("retrained validation accuracy", pct(result.run.metrics["val_accuracy"])))
    if result.run is not None and "test_accuracy" in result.run.metrics:
        rows.append(("retrained test accuracy", pct(result.run.metrics["test_accuracy"])))
    elif result.run is not None:
        rows.append(("retrained", f"on all {result.run.metrics['num_train']:,} labelled images"))
    for key, value in rows:
        table.add_row(key, str(value))
    out.print(table)
    out.print(f"best recipe: {result.path / 'best_recipe.yaml'}", soft_wrap=True, highlight=False)
    if result.run is not None:
        out.print(f"final model: {result.run.path}", soft_wrap=True, highlight=False)
    if not args.no_report:
        write_report(result.path, device=args.device, trust_model_code=True)  # the model this search was given
    return 130 if result.status == "interrupted" else 0


def _cell_printers(seeds: int):
    """What ablate and compare print: the plan before it starts, then a line a finished cell."""
    def planned(arms, fits: int, estimate: str) -> None:
        err.print(f"{len(arms)} arm(s) x {seeds} seed(s): {fits} fit(s) to run, {estimate}", highlight=False)

    def finished(cell: dict, number: int, total: int) -> None:
        err.print(f"[{number}/{total}] {safe(cell['arm'])}, seed {cell['seed']}: {pct(cell['val_accuracy'])} "
                  f"({cell['seconds']:.0f} s)", highlight=False)
    return planned, finished


def _ablate(args) -> int:
    from ..ablation import ablate
    from ..ablation.arms import ORDER

    planned, finished = _cell_printers(args.seeds)
    result = ablate(args.source, args.data, val=args.val, test=args.test, seeds=args.seeds, budget=args.budget,
                    order=args.order or ORDER, knobs=args.knobs, interaction=args.interaction, out=args.out,
                    resume=args.resume, device=args.device, val_fraction=args.val_fraction,
                    unlabeled=args.unlabeled, on_plan=planned, on_cell=finished)
    table = Table(title="autorecipe ablate: validation accuracy over seeds")
    for column in ("arm", "mean", "std", "95% interval"):
        table.add_column(column)
    for score in result.scores.values():
        low, high = score.interval()
        table.add_row(safe(score.name), pct(score.mean), f"{100 * score.std:.2f}",
                      f"[{pct(low)}, {pct(high)}]" if len(score.accuracies) > 1 else "-")
    out.print(table)
    for line in result.verdicts():
        out.print(safe(line), highlight=False, soft_wrap=True)
    out.print(f"saved to {safe(str(result.path))}", highlight=False, soft_wrap=True)
    if not args.no_report:
        write_report(result.path, device=args.device)
    return 0


def _compare(args) -> int:
    from ..ablation import compare

    planned, finished = _cell_printers(args.seeds)
    result = compare(args.source, args.data, vary=args.vary, seeds=args.seeds, budget=args.budget, out=args.out,
                     resume=args.resume, val=args.val, test=args.test, device=args.device,
                     val_fraction=args.val_fraction, unlabeled=args.unlabeled, on_plan=planned, on_cell=finished)
    table = Table(title="autorecipe compare: validation accuracy over seeds")
    for column in ("knob", "value", "mean", "std", "95% interval", "against the recipe's value"):
        table.add_column(column)
    for variant in result.variants:
        low, high = variant.score.interval()
        against = variant.difference.bootstrap.points() if variant.difference else "(the recipe's)"
        table.add_row(safe(variant.knob), safe(str(variant.value)), pct(variant.score.mean),
                      f"{100 * variant.score.std:.2f}",
                      f"[{pct(low)}, {pct(high)}]" if len(variant.score.accuracies) > 1 else "-", safe(against))
    out.print(table)
    out.print(f"saved to {safe(str(result.path))}", highlight=False, soft_wrap=True)
    if not args.no_report:
        write_report(result.path, device=args.device)
    return 0


def _diagnose(args) -> int:
    from ..diagnosing import diagnose

    def planned(fits, estimate: str) -> None:
        err.print(f"{len(fits)} fit(s) to run: {', '.join(f.name for f in fits)}; {estimate}", highlight=False)

    def finished(outcome, number: int, total: int) -> None:
        accuracy = outcome.val_correct.mean() if outcome.val_correct is not None else None
        err.print(f"[{number}/{total}] {outcome.fit.name} ({len(outcome.fit.positions)} images): "
                  f"{pct(accuracy)} ({outcome.seconds:.0f} s)", highlight=False)

    found = diagnose(args.data, val=args.val, test=args.test, out=args.out, budget=args.budget,
                     checks_only=args.checks_only, recipe=args.recipe, overrides=args.overrides, folds=args.folds,
                     device=args.device, seed=args.seed, val_fraction=args.val_fraction,
                     near_distance=args.near_distance, on_plan=planned, on_fit=finished)
    summary = found.to_dict()
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    sets = Table(title="autorecipe diagnose: the data")
    for column in ("set", "images", "classes", "imbalance", "sizes", "colour modes", "unreadable"):
        sets.add_column(column)
    for role, entry in found.sets.items():
        sizes = ", ".join(f"{k} ({v})" for k, v in list(entry.get("sizes", {}).items())[:3]) or "(split of train)"
        modes = ", ".join(f"{k} ({v})" for k, v in entry.get("modes", {}).items()) or "(split of train)"
        sets.add_row(role, str(entry["images"]), str(len(entry["classes"])), f"{entry['imbalance_ratio']:.1f}x",
                     safe(sizes), safe(modes), str(len(entry["unreadable"])))
    out.print(sets)
    if found.duplicates:
        pairs = Table(title=f"duplicates: {len(found.duplicates)} pair(s), the closest")
        for column in ("kind", "bits", "image", "label", "its duplicate", "label "):
            pairs.add_column(column)
        for p in found.duplicates[:10]:
            pairs.add_row(p["kind"], str(p["distance"]), safe(f"{p['set_a']}: {p['image_a']}"), safe(p["label_a"]),
                          safe(f"{p['set_b']}: {p['image_b']}"), safe(p["label_b"]))
        out.print(pairs)
    if found.label_issues:
        issues = Table(title=f"probably wrong labels: {len(found.label_issues)}, the likeliest")
        for column in ("rank", "image", "label", "predicted", "label quality"):
            issues.add_column(column)
        for row in found.label_issues[:10]:
            issues.add_row(str(row["rank"]), safe(row["image"]), safe(row["label"]), safe(row["predicted"]),
                           f"{row['label_quality']:.3f}")
        out.print(issues)
    for line in ([found.learning_curve["text"]] if found.learning_curve else []) + (
            [f"fit verdict: {found.verdict['text']}"] if found.verdict else []):
        out.print(safe(line), highlight=False, soft_wrap=True)
    for number, need in enumerate(found.needs, 1):
        out.print(f"[bold]needs {number}:[/] {safe(need['text'])}", highlight=False, soft_wrap=True)
    out.print(f"saved to {safe(str(found.path))}", highlight=False, soft_wrap=True)
    return 0


def _report(args) -> int:
    from ..reporting import report
    path = report(args.folder, data=args.data, val=args.val, device=args.device,
                  trust_model_code=args.trust_model_code)
    out.print(f"report: {safe(str(path))}", highlight=False, soft_wrap=True)
    return 0


VERBS = {"fit": _fit, "search": _search, "ablate": _ablate, "compare": _compare, "diagnose": _diagnose,
         "report": _report}
