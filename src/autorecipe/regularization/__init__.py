"""The regularization bucket: techniques whose purpose is generalization to unseen images."""

from . import augment, dropout, label_smoothing, weight_decay  # noqa: F401  (declare their knobs)
