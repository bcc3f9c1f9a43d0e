"""autorecipe: train image classifiers the way the best practitioners do, automatically.

    import autorecipe
    run = autorecipe.fit("path/to/images")          # or "digits", a .csv, an .npz, (x, y)
    run.metrics["val_accuracy"], run.predict(["cat.jpg"], top_k=3)
    autorecipe.evaluate("runs/fit-...", "path/to/test")
    autorecipe.export("runs/fit-...", format="onnx")  # uint8 images in, calibrated probabilities out
    found = autorecipe.search("path/to/images", budget="2h")   # found.recipe, found.run
    parts = autorecipe.ablate(found.path, "path/to/images", seeds=3, budget="10 epochs")
    table = autorecipe.compare(found.path, "path/to/images", vary={"activation": ["relu", "gelu"]})
    autorecipe.report(run.path)                      # report.html: data, curves, results, saliency
    found = autorecipe.diagnose("path/to/images", budget="10m")  # found.needs: what the data needs next
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import AutorecipeError
from .recipe import Recipe
from .version import __version__

__all__ = ["AutorecipeError", "Recipe", "Run", "ablate", "compare", "diagnose", "evaluate", "export", "fit", "load",
           "predict", "predict_source", "report", "search"]

if TYPE_CHECKING:
    from .ablation import ablate, compare
    from .diagnosing import diagnose
    from .exporting import export
    from .fitting import fit
    from .predicting import predict_source
    from .reporting import report
    from .run import Run, evaluate, predict
    from .searching import search


def load(path, model=None, trust_model_code: bool = False) -> Run:
    """Load a trained run folder (the --out of a fit) as data; `model`: the module or factory a run trained on
    your own model needs, or `trust_model_code=True` to import the factory its recipe names."""
    from .run import Run
    return Run.load(path, model, trust_model_code)


def __getattr__(name: str):
    # Imported on first use so that `import autorecipe` (and data-decoding workers) stay light.
    if name == "fit":
        from .fitting import fit
        return fit
    if name in ("evaluate", "predict"):
        from . import run as module
        return getattr(module, name)
    if name == "export":
        from .exporting import export
        return export
    if name == "predict_source":
        from .predicting import predict_source
        return predict_source
    if name == "search":
        from .searching import search
        return search
    if name in ("ablate", "compare"):
        from . import ablation
        return getattr(ablation, name)
    if name == "diagnose":
        from .diagnosing import diagnose
        return diagnose
    if name == "report":
        from .reporting import report
        return report
    if name == "Run":
        from .run import Run
        return Run
    raise AttributeError(f"module 'autorecipe' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public API (the verbs are imported on first use, so they are not in globals())."""
    return sorted(set(__all__) | {"__version__"} | {name for name in globals() if name.startswith("__")})
