"""Probabilities you can trust: the expected calibration error with its reliability table, and temperature
scaling (Guo et al., 2017), fitted on validation logits after training.

One temperature T divides every logit: the predicted class never changes, only how sure the model
says it is. T > 1 softens an over-confident model, T < 1 sharpens an under-confident one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

BINS = 15  # equal-width confidence bins of the ECE and the reliability table
MIN_IMAGES = 50  # fewer validation images than this fit a temperature to their noise: calibration is skipped
TEMPERATURES = (0.05, 20.0)  # the range searched


@dataclass(frozen=True)
class Calibration:
    """How far confidence is from accuracy: the expected calibration error and the reliability table (per
    confidence bin: its range, images, mean confidence and accuracy; empty bins left out)."""

    ece: float
    bins: list[dict]

    def to_dict(self) -> dict:
        return {"ece": self.ece, "bins": self.bins}


def calibration(probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS) -> Calibration:
    """The expected calibration error of top-1 predictions, with equal-width confidence bins (Guo et al., 2017):
    the images-weighted mean of |accuracy - confidence| over the bins."""
    probabilities, labels = np.asarray(probabilities, dtype=np.float64), np.asarray(labels)
    if len(labels) == 0:
        return Calibration(float("nan"), [])
    confidence, right = probabilities.max(1), probabilities.argmax(1) == labels
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        chosen = index == b
        if chosen.any():
            mean_confidence, accuracy = float(confidence[chosen].mean()), float(right[chosen].mean())
            ece += chosen.mean() * abs(accuracy - mean_confidence)
            table.append({"low": b / bins, "high": (b + 1) / bins, "count": int(chosen.sum()),
                          "confidence": mean_confidence, "accuracy": accuracy})
    return Calibration(float(ece), table)


def probabilities(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / temperature), in float64."""
    return np.exp(log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """The mean negative log-likelihood of the labels under softmax(logits / temperature)."""
    log_p = log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)
    return float(-log_p[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimizes the labels' negative log-likelihood (searched on a log scale)."""
    low, high = (math.log(t) for t in TEMPERATURES)
    found = minimize_scalar(lambda log_t: nll(logits, labels, math.exp(log_t)), bounds=(low, high),
                            method="bounded", options={"xatol": 1e-4})
    return float(math.exp(found.x))


def calibrate(logits: np.ndarray, labels: np.ndarray) -> dict:
    """Fit a temperature on validation logits; the record for metrics.json: the temperature, and the ECE,
    negative log-likelihood and reliability table before and after."""
    labels = np.asarray(labels)
    temperature = fit_temperature(logits, labels)
    before, after = (calibration(probabilities(logits, t), labels) for t in (1.0, temperature))
    return {"temperature": temperature, "images": int(len(labels)),
            "ece_before": before.ece, "ece_after": after.ece,
            "nll_before": nll(logits, labels), "nll_after": nll(logits, labels, temperature),
            "reliability_before": before.bins, "reliability_after": after.bins}
