"""Early stopping: end training when validation accuracy stops improving."""

from __future__ import annotations

from ..knobs import ON, IntRange, Interval, Uniform, knob

PATIENCE = knob(
    "patience", bucket="regularization", default=0, baseline=0, valid=Interval(int, 0, 100_000),
    search=IntRange(3, 20, off=0),
    doc="Stop after this many epochs without a validation accuracy gain of more than min_delta; 0 = off.",
)
MIN_DELTA = knob(
    "min_delta", bucket="regularization", default=0.0, baseline=0.0, valid=Interval(float, 0.0, 1.0),
    search=Uniform(0.0, 0.01), when=("patience", ON),
    doc="Early stopping: the smallest gain in validation accuracy (a fraction) that counts as improving.",
)


class EarlyStopping:
    """Counts epochs since validation accuracy last improved by more than min_delta."""

    def __init__(self, section):
        self.patience, self.min_delta = section.patience, section.min_delta
        self.best, self.waited = float("-inf"), 0

    def should_stop(self, accuracy: float) -> bool:
        """Record one epoch's validation accuracy; True when training should end now."""
        if accuracy > self.best + self.min_delta:
            self.best, self.waited = accuracy, 0
            return False
        self.waited += 1
        return self.patience > 0 and self.waited >= self.patience
