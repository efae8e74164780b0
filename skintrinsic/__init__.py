"""skintrinsic: intrinsic properties of image datasets and of the networks trained on them.

The public estimators are importable from here.  Submodules are loaded on first
use, so ``import skintrinsic`` stays cheap (torch is only imported by the
estimators that train or probe networks).
"""

import importlib

__version__ = "0.1.0.dev0"

# public name -> submodule that defines it
_LAZY = {
    "IntrinsicDimension": "dimension",
    "LabelSharpness": "sharpness",
    "RepresentationDimension": "representation",
    "ScalingLawRegressor": "scaling",
    "scaling_study": "scaling",
    "RobustnessScorer": "robustness",
    "robustness_curve": "robustness",
    "DiffeoSensitivity": "diffeo",
    "DiffeoTransformer": "diffeo",
}
_SUBMODULES = ("datasets", "diffeo", "nets", "plotting")

__all__ = sorted(_LAZY) + list(_SUBMODULES)


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
