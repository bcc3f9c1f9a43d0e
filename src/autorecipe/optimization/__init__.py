"""The optimization bucket: how fast good weights are found."""

from . import normalization, optimizers, precision, schedule  # noqa: F401  (declare their knobs)
