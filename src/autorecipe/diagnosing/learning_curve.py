"""The learning curve: validation accuracy at growing shares of the labelled images, a power law fitted to
its error, and whether more labels would still help, with a bootstrap interval over the validation images.

The error is modelled as err(n) = b * n^-c (a line in log-log; c >= 0: error does not grow with data), the
usual shape of learning curves in deep learning (Hestness et al., 2017). What doubling the labelled images
would add is err(N) * (1 - 2^-c) at the largest size N. Its 95% interval resamples the validation images
(the same ones at every size, so the points stay paired) and refits; it does not cover the spread between
training seeds, which a curve of more points or seeds narrows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRACTIONS = (0.25, 0.5, 0.75, 1.0)
HELPS = 0.01  # a doubling that adds at least a point: more labels still help
ROUNDS = 2000  # bootstrap resamples


@dataclass(frozen=True)
class LearningCurve:
    """The curve's points and the verdict on more labels. `kind`: more_labels_help | plateau | uncertain."""

    sizes: list[int]
    accuracies: list[float]
    exponent: float
    gain: float  # validation accuracy a doubling of the labelled images is predicted to add
    interval: tuple[float, float]
    kind: str
    text: str

    def to_dict(self) -> dict:
        return {"sizes": self.sizes, "accuracies": self.accuracies, "exponent": self.exponent,
                "doubling_gain": self.gain, "doubling_gain_interval": list(self.interval), "kind": self.kind,
                "text": self.text}


def power_law(sizes: np.ndarray, errors: np.ndarray) -> tuple[float, float]:
    """(b, c) of err = b * n^-c fitted in log-log by least squares, c clipped at 0."""
    slope, intercept = np.polyfit(np.log(sizes), np.log(errors), 1)
    return float(np.exp(intercept)), max(0.0, float(-slope))


def doubling_gain(sizes: np.ndarray, accuracies: np.ndarray, floor: float) -> tuple[float, float]:
    """What doubling the largest size adds to accuracy by the fitted power law, and the exponent c; errors are
    held above `floor` (half an image's share of the validation set) so a perfect score stays finite."""
    errors = np.maximum(1.0 - np.asarray(accuracies, dtype=np.float64), floor)
    b, c = power_law(np.asarray(sizes, dtype=np.float64), errors)
    at_largest = b * float(max(sizes)) ** -c
    return at_largest * (1.0 - 2.0 ** -c), c


def learning_curve(sizes: list[int], correct: list[np.ndarray], seed: int = 0) -> LearningCurve:
    """The curve from per-validation-image correctness (1/0, or a share over several fits) at each size."""
    correct = [np.asarray(c, dtype=np.float64) for c in correct]
    n = len(correct[0])
    floor = 0.5 / n
    accuracies = np.array([c.mean() for c in correct])
    gain, exponent = doubling_gain(np.array(sizes), accuracies, floor)
    stacked = np.stack(correct)  # (sizes, validation images)
    draws = np.random.default_rng(seed).integers(0, n, size=(ROUNDS, n))
    resampled = np.stack([stacked[:, d].mean(axis=1) for d in draws])
    gains = np.array([doubling_gain(np.array(sizes), a, floor)[0] for a in resampled])
    low, high = (float(v) for v in np.percentile(gains, [2.5, 97.5]))
    shown = f"{100 * gain:+.1f} points [{100 * low:+.1f}, {100 * high:+.1f}]"
    points = ", ".join(f"{s}: {100 * a:.1f}%" for s, a in zip(sizes, accuracies))
    if low >= HELPS:
        kind, text = "more_labels_help", (f"more labels would still help: doubling the {max(sizes)} labelled "
                                          f"images is predicted to add {shown} (learning curve {points})")
    elif high < HELPS:
        kind, text = "plateau", (f"a plateau: doubling the {max(sizes)} labelled images is predicted to add "
                                 f"{shown}, under {100 * HELPS:.0f} point (learning curve {points}); more "
                                 f"labels of the same kind will not help, cleaner ones or another bucket may")
    else:
        kind, text = "uncertain", (f"unclear whether more labels help: doubling is predicted to add {shown} "
                                   f"(learning curve {points}); more validation images would tell")
    return LearningCurve(list(map(int, sizes)), [float(a) for a in accuracies], exponent, float(gain),
                         (low, high), kind, text)
