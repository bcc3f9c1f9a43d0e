"""Reports: the HTML report of a run, search, ablation or comparison folder (`report`), and the plain-words
over- or under-fitting verdict on a training's curves (`verdict.fit_verdict`), which diagnose reuses."""

from .build import report

__all__ = ["report"]
