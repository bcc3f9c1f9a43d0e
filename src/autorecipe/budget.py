"""Budgets: the one grammar of every verb's --budget: wall time, epochs of training and, for a search,
trials ('2h', '300 epochs', '40 trials', or several joined by commas: the first one reached ends it)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .durations import parse_duration
from .errors import AutorecipeError

FORMS = "e.g. 2h, 30m, '40 trials', '300 epochs', or several joined by commas: '1h, 50 trials'"


@dataclass(frozen=True)
class Budget:
    """Limits on a search; None means no limit of that kind."""

    trials: int | None = None
    seconds: float | None = None
    epochs: int | None = None

    def __str__(self) -> str:
        parts = [f"{self.trials} trials" if self.trials else "",
                 f"{self.seconds:g}s" if self.seconds else "",
                 f"{self.epochs} epochs" if self.epochs else ""]
        return ", ".join(p for p in parts if p)

    def check(self, epochs_per_trial: int) -> None:
        """Raise AutorecipeError when no trial could finish within the budget."""
        if self.epochs is not None and self.epochs < epochs_per_trial:
            raise AutorecipeError(
                f"budget of {self.epochs} epochs is less than one trial at full budget ({epochs_per_trial} epochs); "
                f"raise the budget to at least {epochs_per_trial} epochs or lower --epochs")


def parse_budget(value: str | int | float | Budget) -> Budget:
    """A Budget from text such as '2h', '40 trials', '300 epochs' or '1h, 50 trials'."""
    if isinstance(value, Budget):
        budget = value
    else:
        limits: dict[str, float] = {}
        for part in str(value).split(","):
            text = part.strip().lower()
            counted = re.fullmatch(r"(-?\d+)\s*(trials?|epochs?)", text)
            if counted:
                kind = "trials" if counted[2].startswith("trial") else "epochs"
                limits[kind] = int(counted[1])
            elif re.fullmatch(r"-?\d+(\.\d+)?", text):
                raise AutorecipeError(f"budget {value!r}: say what {text} counts: '{text} trials', "
                                      f"'{text} epochs' or '{text}s'")
            else:
                try:
                    limits["seconds"] = parse_duration(text, positive=False)
                except AutorecipeError:
                    raise AutorecipeError(f"budget {value!r}: cannot read {part.strip()!r}; {FORMS}") from None
        budget = Budget(**limits)
    for kind in ("trials", "epochs"):
        count = getattr(budget, kind)
        if count is not None and count < 1:
            raise AutorecipeError(f"budget: {count} {kind} is not possible; give at least 1")
    if budget.seconds is not None and not budget.seconds > 0:
        raise AutorecipeError(f"budget: {budget.seconds:g} seconds is not possible; give a positive duration")
    if budget == Budget():
        raise AutorecipeError(f"budget: no limit given; {FORMS}")
    return budget
