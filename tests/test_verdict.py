"""The over- or under-fitting verdict from a training's curves, on histories of known shape."""

from __future__ import annotations

from autorecipe.reporting.verdict import fit_verdict


def _history(train_acc, val_acc, train_loss, val_loss):
    return [{"epoch": i + 1, "train_accuracy": a, "val_accuracy": b, "train_loss": c, "val_loss": d}
            for i, (a, b, c, d) in enumerate(zip(train_acc, val_acc, train_loss, val_loss))]


def test_a_widening_gap_and_rising_validation_loss_is_over_fitting():
    n = 20
    verdict = fit_verdict(_history([0.6 + 0.02 * i for i in range(n)], [0.6 + 0.01 * min(i, 8) for i in range(n)],
                                   [1.0 - 0.045 * i for i in range(n)], [1.0 - 0.04 * min(i, 8) + 0.03 * max(0, i - 8)
                                                                         for i in range(n)]))
    assert verdict.kind == "over_fitting" and verdict.buckets[0] == "regularization"
    assert "gap of" in verdict.text and verdict.evidence["best_epoch"] == 9


def test_a_loss_still_falling_with_validation_best_at_the_end_is_under_fitting():
    n = 12
    verdict = fit_verdict(_history([0.5 + 0.03 * i for i in range(n)], [0.5 + 0.028 * i for i in range(n)],
                                   [2.0 * 0.9 ** i for i in range(n)], [2.1 * 0.9 ** i for i in range(n)]))
    assert verdict.kind == "under_fitting" and verdict.buckets[0] == "optimization"


def test_flat_low_accuracy_close_to_validation_is_under_fitting_at_capacity():
    n = 10
    verdict = fit_verdict(_history([0.70] * n, [0.69] * n, [1.0] * n, [1.02] * n))
    assert verdict.kind == "under_fitting" and verdict.buckets[0] == "architecture"


def test_a_good_fit_and_the_cases_without_a_verdict():
    n = 10
    good = fit_verdict(_history([0.97] * n, [0.95] * (n - 3) + [0.96] * 3, [0.1] * n, [0.15] * n))
    assert good.kind == "good_fit" and good.buckets == ()
    assert fit_verdict(_history([0.9] * 2, [0.9] * 2, [0.1] * 2, [0.1] * 2)).kind == "unknown"
    no_val = [{"epoch": i, "train_accuracy": 0.9, "train_loss": 0.3} for i in range(1, 9)]
    assert "no validation" in fit_verdict(no_val).text
