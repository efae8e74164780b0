"""skintrinsic: intrinsic properties of image datasets and of the networks trained on them.

The public estimators are importable from here.  Submodules are loaded on first
use, so ``import skintrinsic`` itself imports neither torch nor matplotlib.
"""

from ._lazy import attach

__version__ = "0.1.0.dev0"

# public name -> submodule that defines it
_LAZY = {
    "IntrinsicDimension": "dimension",
    "kneighbors_graph": "_neighbors",
    "LabelSharpness": "sharpness",
    "RepresentationDimension": "representation",
    "ScalingLawRegressor": "scaling",
    "scaling_study": "study",
    "RobustnessScorer": "robustness",
    "robustness_curve": "robustness",
    "DiffeoSensitivity": "diffeo",
    "DiffeoTransformer": "diffeo",
    "make_stability_scorer": "diffeo",
}
_SUBMODULES = ("datasets", "diffeo", "nets", "plotting", "study")

__getattr__, __dir__, __all__ = attach(__name__, _LAZY, _SUBMODULES)
