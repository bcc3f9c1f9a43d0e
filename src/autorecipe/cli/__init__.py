"""The `autorecipe` command line: fit, evaluate, predict, export, search, ablate, compare, diagnose, report,
show-study, knobs, recipe.

main.py runs a verb, with the settings that hold for every verb and one-line errors; parser.py holds the
options; each verb calls the library and prints what it found: training.py (fit, search, ablate, compare,
diagnose, report), model.py (evaluate, predict, export) and inspecting.py (show-study, knobs, recipe);
console.py holds what they share.
"""

from .main import main

__all__ = ["main"]
