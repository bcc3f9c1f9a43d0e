"""Regularizers that live inside the network: dropout before the head and stochastic depth.

Declared in the regularization bucket (their purpose is generalization); the training wing
passes their values to every architecture builder through ModelSpec, and the builder places
them itself (the DropPath layer is an architecture block).
"""

from __future__ import annotations

from ..knobs import Interval, Uniform, knob

DROPOUT = knob(
    "dropout", bucket="regularization", default=0.0, baseline=0.0, valid=Interval(float, 0.0, 0.9),
    search=Uniform(0.0, 0.5),
    doc="Dropout probability on the features entering the classifier head.",
)
DROP_PATH = knob(
    "drop_path", bucket="regularization", default=0.0, baseline=0.0, valid=Interval(float, 0.0, 0.9),
    search=Uniform(0.0, 0.3),
    doc="Stochastic depth: probability of skipping a residual branch in training (Huang et al., 2016), "
        "rising linearly from 0 at the first block to this value at the last.",
)
