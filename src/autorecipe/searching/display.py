"""Trials as a rich table: live while a search runs, and for `autorecipe show-study`."""

from __future__ import annotations

import optuna
from rich.console import Console
from rich.live import Live
from rich.table import Table

from ..knobs import registry
from ..recipe import Recipe
from ..terminal import safe
from .attributes import EPOCHS_RUN, ERROR, LOCAL, OUTSIDE, REFERENCE, WARM_START
from .resume import cut_off_numbers
from .results import best_trial, trial_score, trial_seconds, trial_state
from .space import knob_of

SHOWN = 20  # most recent trials in the live table


def trials_table(study: optuna.Study, last: int | None = None, title: str | None = None) -> Table:
    """A table of the study's trials (the `last` ones, when given), one line a trial: state, epochs,
    time, score and how its recipe differs from the default recipe."""
    trials = study.get_trials(deepcopy=False)
    best = best_trial(study)
    table = Table(title=title or f"study {study.study_name}: {len(trials)} trials", expand=True)
    for column, justify in (("#", "right"), ("state", "left"), ("epochs", "right"), ("time", "right"),
                            ("val acc", "right")):
        table.add_column(column, justify=justify, no_wrap=True)
    table.add_column("changes from the default recipe", overflow="ellipsis", no_wrap=True, ratio=1)
    reference = Recipe.from_dict(study.user_attrs.get(REFERENCE))  # the default recipe at the data's size
    marked = cut_off_numbers(study)
    for t in trials[-last:] if last else trials:
        score = trial_score(t)
        state = state_name(t, marked) + (" (warm)" if WARM_START in t.user_attrs else
                                 " (local)" if t.user_attrs.get(LOCAL) else "")
        if t.user_attrs.get(ERROR):
            state += f": {t.user_attrs[ERROR][:40]}"
        mark = "[bold green]" if best is not None and t.number == best.number else ""
        seconds = trial_seconds(t)
        table.add_row(f"{mark}{t.number}", safe(state), str(t.user_attrs.get(EPOCHS_RUN, 0)),
                      f"{seconds:.0f}s" if seconds is not None else "-",
                      f"{mark}{100 * score:.2f}%" if score is not None else "-",
                      safe(changes_text({**t.params, **t.user_attrs.get(OUTSIDE, {})}, reference)))
    return table


def state_name(trial, marked: frozenset[int] = frozenset()) -> str:
    """complete, pruned, failed, running, waiting, or interrupted (cut off by Ctrl-C or a kill: run again)."""
    state = trial_state(trial, marked)
    return "failed" if state == "fail" else state


def changes_text(params: dict, default: Recipe | None = None) -> str:
    """A trial's knobs that differ from the default recipe, as knob=value (a technique off as knob=off)."""
    default = default or Recipe()
    shown = []
    for name, value in params.items():
        knob = knob_of(name)
        if name != knob:  # an on/off switch: off is news when the default is on; on, its value follows
            if value is False and registry()[knob].search.off != default.get(knob):
                shown.append(f"{knob}=off")
            continue
        if value != default.get(knob):
            shown.append(f"{knob}={_short(value)}")
    return " ".join(shown) or "the default recipe"


class LiveTrials:
    """A live table of the most recent trials, redrawn after every epoch and trial."""

    def __init__(self, console: Console):
        self.live = Live(console=console, refresh_per_second=2, transient=False)
        self.study: optuna.Study | None = None

    def note(self, text: str) -> None:
        """A line above the table."""
        self.live.console.print(safe(text), highlight=False, soft_wrap=True)

    def start(self, study: optuna.Study) -> None:
        self.study = study
        self.live.start()
        self.refresh()

    def refresh(self, *_) -> None:
        if self.study is not None:
            self.live.update(trials_table(self.study, last=SHOWN))

    def stop(self) -> None:
        self.refresh()
        self.live.stop()


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
