"""diagnose: what the data needs next (duplicates, probably wrong labels, balance, a learning curve)."""

from .diagnose import Diagnosis, diagnose

__all__ = ["Diagnosis", "diagnose"]
