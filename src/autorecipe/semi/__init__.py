"""Semi-supervised learning: methods that also learn from unlabeled images, as data-bucket knobs.

`methods` declares the method knob and the knobs every method shares; `consistency` holds
FixMatch and FreeMatch (pseudo-labels from a weakly augmented view train the strongly
augmented one, above a fixed or a self-adaptive confidence threshold); `training` builds what
a training step needs from a recipe.
"""

from . import methods, consistency  # noqa: F401  (declare their knobs; the method first)
