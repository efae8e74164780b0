"""Networks: the paper's architectures, the skorch image classifier, and layer access."""

from ._hooks import capture_outputs, eval_mode, extract_features, get_layer, layer_names

__all__ = ["capture_outputs", "eval_mode", "extract_features", "get_layer", "layer_names"]
