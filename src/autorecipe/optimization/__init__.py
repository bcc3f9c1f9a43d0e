"""The optimization bucket: how fast good weights are found."""

from . import (  # noqa: F401  (declare their knobs, in this order)
    optimizers, schedule, accumulation, clipping, precision, compilation, batchnorm, lookahead, normalization,
    initialization, finetune,
)
