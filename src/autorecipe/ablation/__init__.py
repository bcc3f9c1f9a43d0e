"""Ablation: what each bucket of a recipe contributed, over paired seeds, with intervals."""

from .ablate import AblationResult, ablate
from .compare import ComparisonResult, compare

__all__ = ["AblationResult", "ComparisonResult", "ablate", "compare"]
