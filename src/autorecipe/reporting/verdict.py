"""The over- or under-fitting verdict from a training's curves, naming the bucket to work on next.

One function for every verb that judges a model (the report, diagnose): it reads the history (train and
validation loss and accuracy per epoch) and says which of these holds, with the figures it rests on:
- over-fitting: the training accuracy well above validation, and validation loss rising from its
  minimum: regularization (augmentation, weight decay, label smoothing) or data (more images);
- under-fitting, still learning: the training loss still falling and validation best at the end:
  optimization (more epochs, a higher learning rate);
- under-fitting, at capacity: training accuracy low and close to validation: architecture (a larger
  model) or optimization;
- a good fit, or no verdict without validation or with too few epochs.
Training accuracy is measured on augmented (and mixed) images, so it reads low under strong
regularization; the gap is taken against the best validation accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OVER_GAP = 0.10  # training accuracy this far above validation (10 points) suggests over-fitting...
LOSS_RISE = 0.10  # ...when validation loss also rose this share above its minimum
LARGE_GAP = 0.20  # a gap this large is over-fitting on its own
CLOSE_GAP = 0.03  # train and validation this close...
LOW_ACCURACY = 0.90  # ...with training accuracy below this: the model cannot fit the training images
STILL_FALLING = 0.05  # training loss fell this share over the last quarter of the epochs: still learning
LATE = 0.8  # the best validation epoch in the last fifth: validation still improving
FEWEST_EPOCHS = 4


@dataclass(frozen=True)
class FitVerdict:
    """`kind`: over_fitting | under_fitting | good_fit | unknown; `buckets`: what to work on next, first first."""

    kind: str
    text: str
    buckets: tuple[str, ...] = ()
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "text": self.text, "buckets": list(self.buckets), "evidence": self.evidence}


def fit_verdict(history: list[dict]) -> FitVerdict:
    """The verdict on one training's history (history.csv's rows)."""
    if len(history) < FEWEST_EPOCHS:
        return FitVerdict("unknown", f"{len(history)} epoch(s): too few to judge the curves")
    if any(h.get("val_accuracy") is None for h in history):
        return FitVerdict("unknown", "no validation images: over- or under-fitting cannot be told from training "
                                     "curves alone; give --val or a --val-fraction")
    best = max(range(len(history)), key=lambda i: history[i]["val_accuracy"])
    val_best = history[best]["val_accuracy"]
    train_last = history[-1]["train_accuracy"]
    gap = train_last - val_best
    losses = [h["val_loss"] for h in history]
    rise = losses[-1] / min(losses) - 1 if min(losses) > 0 else 0.0
    quarter = max(1, len(history) // 4)
    fell = 1 - history[-1]["train_loss"] / history[-1 - quarter]["train_loss"] if history[-1 - quarter][
        "train_loss"] > 0 else 0.0
    evidence = {"train_accuracy": train_last, "best_val_accuracy": val_best, "best_epoch": best + 1,
                "epochs": len(history), "gap": gap, "val_loss_rise": rise, "train_loss_fall": fell}
    shown = f"training accuracy {100 * train_last:.1f}%, best validation {100 * val_best:.1f}% (epoch {best + 1})"

    if gap > LARGE_GAP or (gap > OVER_GAP and rise > LOSS_RISE):
        return FitVerdict("over_fitting", f"over-fitting: {shown}, a gap of {100 * gap:.1f} points, and validation "
                          f"loss {100 * rise:.0f}% above its minimum at the end: work on regularization "
                          f"(augmentation, weight decay, label smoothing) or data (more images, unlabeled ones "
                          f"too)", ("regularization", "data"), evidence)
    if fell > STILL_FALLING and best + 1 > LATE * len(history):
        return FitVerdict("under_fitting", f"under-fitting, still learning: {shown}; the training loss fell "
                          f"{100 * fell:.0f}% over the last {quarter} epoch(s) and validation was best near the end: "
                          f"work on optimization (more epochs, a higher learning rate)",
                          ("optimization", "architecture"), evidence)
    if train_last < LOW_ACCURACY and abs(gap) < CLOSE_GAP:
        return FitVerdict("under_fitting", f"under-fitting: {shown}: the model does not fit its own training "
                          f"images and validation follows: work on the architecture (a larger model) or "
                          f"optimization", ("architecture", "optimization"), evidence)
    return FitVerdict("good_fit", f"neither over- nor under-fitting by the curves: {shown}", (), evidence)
