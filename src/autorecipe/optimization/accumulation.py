"""Gradient accumulation: several forward/backward passes per optimizer step (a larger effective batch)."""

from __future__ import annotations

from ..knobs import Choice, Interval, knob

ACCUMULATE = knob(
    "accumulate", bucket="optimization", default=1, baseline=1, valid=Interval(int, 1, 1024),
    search=Choice((1, 2, 4)),
    doc="Batches whose gradients are summed per optimizer step; the effective batch (and the lr "
        "scaling) is batch_size x accumulate.",
)
