"""Semi-supervised learning: methods that also learn from unlabeled images, as data-bucket knobs.

`methods` declares the method knob and the knobs FixMatch and FreeMatch share; `consistency`
holds their pseudo-labels (from a weakly augmented view, to train the strongly augmented one,
above a fixed or a self-adaptive confidence threshold) and `step` their part of a training step
(a training.auxiliary objective); `noisy_student` trains a teacher, then noised students on its
pseudo-labels, round after round; `train` runs the recipe's method through the training wing.
"""

from . import methods, consistency, noisy_student  # noqa: F401  (declare their knobs; the method first)
