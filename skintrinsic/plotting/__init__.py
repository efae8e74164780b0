"""Display objects in scikit-learn's style (``from_estimator``, ``plot``), kept out of the estimators.

matplotlib is imported only when a Display is used.
"""

import importlib

# public name -> private module that defines it
_LAZY = {
    "DimensionProfileDisplay": "_profile",
    "ScalingLawDisplay": "_scaling",
    "RobustnessCurveDisplay": "_scaling",
    "SharpnessRobustnessDisplay": "_scaling",
    "SensitivityDisplay": "_diffeo",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
