"""The semi-supervised method knob, and the knobs its methods share."""

from __future__ import annotations

from ..errors import AutorecipeError
from ..knobs import Boolean, Choice, IntRange, Interval, Options, Uniform, knob, registry

CONSISTENCY_METHODS = ("fixmatch", "freematch")  # labelled and unlabeled batches in every step
METHODS = CONSISTENCY_METHODS + ("noisy_student",)
DEFAULT_METHOD = "fixmatch"  # what "auto" means with unlabeled images (benchmarks/semi_supervised.py)
CONSISTENCY = ("semi_supervised", CONSISTENCY_METHODS)

SEMI_SUPERVISED = knob(
    "semi_supervised", bucket="data", default="auto", baseline="none", valid=Options(("auto", "none") + METHODS),
    search=Choice(("none",) + CONSISTENCY_METHODS),
    doc="Learn from unlabeled images too (fit --unlabeled): fixmatch (Sohn et al., 2020: pseudo-labels above a "
        "fixed confidence threshold), freematch (Wang et al., 2023: self-adaptive thresholds; it collapsed at 4,000 "
        "CIFAR-10 labels, benchmarks/RESULTS.md), noisy_student "
        "(Xie et al., 2020: a teacher labels them, a noised student learns from both, in rounds) or none. auto: "
        f"{DEFAULT_METHOD} when unlabeled images are given, else none. A search chooses among none, fixmatch and "
        "freematch (a noisy-student trial trains a model a round, which the search's epochs cannot compare).",
)
UNLABELED_RATIO = knob(
    "unlabeled_ratio", bucket="data", default=2, baseline=2, valid=Interval(int, 1, 16), search=IntRange(1, 7),
    when=CONSISTENCY,
    doc="Unlabeled images a step for every labelled one (FixMatch's mu: 7 in the paper, after 2^20 steps; at a "
        "small budget fewer buy more steps, and 2 beat 3 for FixMatch on digits: benchmarks/RESULTS.md).",
)
UNLABELED_WEIGHT = knob(
    "unlabeled_weight", bucket="data", default=1.0, baseline=1.0, valid=Interval(float, 0.0, 10.0),
    search=Uniform(0.25, 2.0), when=CONSISTENCY,
    doc="Weight of the unlabeled images' loss against the labelled loss (FixMatch's lambda_u).",
)
UNLABELED_WARMUP = knob(
    "unlabeled_warmup", bucket="data", default=0.05, baseline=0.05, valid=Interval(float, 0.0, 1.0),
    search=Uniform(0.0, 0.2), when=CONSISTENCY,
    doc="Share of training over which the unlabeled loss's weight ramps up linearly from 0, so the first "
        "pseudo-labels come from a model that has learnt something.",
)
DISTRIBUTION_ALIGNMENT = knob(
    "distribution_alignment", bucket="data", default=True, baseline=True, valid=Boolean(),
    search=Choice((True, False)), when=CONSISTENCY,
    doc="Distribution alignment (Berthelot et al., 2020): scale the weak view's class probabilities by the "
        "labelled class shares over their running mean on unlabeled images, so pseudo-labels do not collapse "
        "onto a few classes.",
)


def resolve_method(section, unlabeled: bool) -> str:
    """The method a data section trains with: auto resolved, and an error for a method without images."""
    method = section.semi_supervised
    if method == "auto":
        return DEFAULT_METHOD if unlabeled else "none"
    if method != "none" and not unlabeled:
        raise AutorecipeError(f"semi_supervised: {method} needs unlabeled images; give them with --unlabeled "
                              f"(unlabeled= in Python), or set semi_supervised: none")
    return method


def semi_knobs() -> list[str]:
    """The method knob and the knobs that matter only under a method: what a search without unlabeled images
    leaves out of its space."""
    return ["semi_supervised"] + [name for name, k in registry().items()
                                  if k.when is not None and "semi_supervised" in k.when.knobs]
