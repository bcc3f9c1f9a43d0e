"""Trials as a rich table: live while a search runs, and for `autorecipe show-study`."""

from __future__ import annotations

import optuna
from rich.console import Console
from rich.live import Live
from rich.table import Table

from .attributes import EPOCHS_RUN, ERROR, LOCAL, WARM_START
from .results import best_trial, trial_score
from .space import SWITCH, knob_of

SHOWN = 20  # most recent trials in the live table


def trials_table(study: optuna.Study, last: int | None = None, title: str | None = None) -> Table:
    """A table of the study's trials (the `last` ones, when given): state, epochs, score and knobs."""
    trials = study.get_trials(deepcopy=False)
    best = best_trial(study)
    table = Table(title=title or f"study {study.study_name}: {len(trials)} trials")
    for column, justify in (("#", "right"), ("state", "left"), ("epochs", "right"), ("val acc", "right"),
                            ("recipe (searched knobs)", "left")):
        table.add_column(column, justify=justify, overflow="fold")
    for t in trials[-last:] if last else trials:
        score = trial_score(t)
        state = t.state.name.lower() + (" (warm)" if t.user_attrs.get(WARM_START) else
                                        " (local)" if t.user_attrs.get(LOCAL) else "")
        if t.user_attrs.get(ERROR):
            state += f": {t.user_attrs[ERROR][:40]}"
        mark = "[bold green]" if best is not None and t.number == best.number else ""
        table.add_row(f"{mark}{t.number}", state, str(t.user_attrs.get(EPOCHS_RUN, 0)),
                      f"{mark}{100 * score:.2f}%" if score is not None else "-",
                      recipe_text(t.params))
    return table


class LiveTrials:
    """A live table of the most recent trials, redrawn after every epoch and trial."""

    def __init__(self, console: Console):
        self.live = Live(console=console, refresh_per_second=2, transient=False)
        self.study: optuna.Study | None = None

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


def recipe_text(params: dict) -> str:
    """A trial's parameters as knob=value, a technique switched off as knob=off."""
    shown = []
    for name, value in params.items():
        if name.endswith(SWITCH) and knob_of(name) != name:
            if value is False:
                shown.append(f"{knob_of(name)}=off")
        else:
            shown.append(f"{name}={_short(value)}")
    return " ".join(shown)


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
