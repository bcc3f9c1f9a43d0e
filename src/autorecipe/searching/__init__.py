"""Recipe search: one multi-fidelity Optuna study over the knobs of all four buckets.

space.py derives the space from the knob declarations; optuna_parts.py picks the sampler,
pruner and storage; budgets.py stops the search; warm_start.py and library.py choose the
first trials; objective.py runs one trial through `train()`; results.py and display.py
summarize the study; search.py ties them together.
"""

from .search import SearchResult, search

__all__ = ["SearchResult", "search"]
