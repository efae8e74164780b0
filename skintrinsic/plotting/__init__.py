"""Display objects in scikit-learn's style (``from_estimator``, ``plot``), kept out of the estimators.

matplotlib is imported only when a Display is used.
"""

from .._lazy import attach

# public name -> private module that defines it
_LAZY = {
    "DimensionProfileDisplay": "_profile",
    "ScalingLawDisplay": "_scaling",
    "RobustnessCurveDisplay": "_scaling",
    "SharpnessRobustnessDisplay": "_scaling",
    "SensitivityDisplay": "_diffeo",
    # _style.py: colour = dataset, marker = estimator, grey and size = N
    "dataset_colors": "_style",
}

__getattr__, __dir__, __all__ = attach(__name__, _LAZY)
