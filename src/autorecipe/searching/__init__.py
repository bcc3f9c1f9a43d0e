"""Recipe search: one multi-fidelity Optuna study over the knobs of all four buckets.

space.py derives the space from the knob declarations; samplers.py, pruning.py and storage.py
build Optuna's swappable parts by name; settings.py holds what a search was asked to do;
budgets.py stops the search; warm_start.py, library.py and local.py choose trials;
objective.py runs one trial through the training wing's `train()`; loop.py runs a worker's
trials; resume.py handles killed trials and several workers; attributes.py names what is kept
on each trial; results.py and display.py summarize the study; search.py ties them together.
"""

from .search import SearchResult, search

__all__ = ["SearchResult", "search"]
