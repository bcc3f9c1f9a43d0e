"""The regularization bucket: techniques whose purpose is generalization to unseen images."""

from . import (  # noqa: F401  (declare their knobs)
    augment, color_jitter, dropout, early_stopping, ema, erasing, loss, mixing, policies, tta,
    weight_decay,
)
