"""Networks: the paper's architectures, the skorch image classifier, and layer access."""

from ._hooks import (
    capture_outputs,
    eval_mode,
    extract_features,
    get_layer,
    layer_depth,
    layer_names,
    resolve_layers,
)
from ..datasets._subsets import stratified_subset  # noqa: F401  (its home is datasets)
from .classifier import ImageClassifier
from .models import ARCHITECTURES, build_model, penultimate_layer, profile_layers

__all__ = [
    "ARCHITECTURES",
    "ImageClassifier",
    "build_model",
    "capture_outputs",
    "eval_mode",
    "extract_features",
    "get_layer",
    "layer_depth",
    "layer_names",
    "penultimate_layer",
    "profile_layers",
    "resolve_layers",
]
