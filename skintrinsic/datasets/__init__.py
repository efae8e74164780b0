"""Datasets: loaders for real image data and generators of data with known structure."""

import importlib

# public name -> private module that defines it
_LAZY = {
    # _loaders.py: real data (MNIST, MedMNIST, image folders); _fetch.py: data home, registry,
    # checksummed downloads; _preprocessing.py: the reference preprocessing
    "get_data_home": "_fetch",
    "load_mnist": "_loaders",
    "load_medmnist": "_loaders",
    "load_image_folder": "_loaders",
    "binary_task": "_loaders",
    "ReferencePreprocessor": "_preprocessing",
    # _generators.py: manifolds of known intrinsic dimension
    "make_sphere": "_generators",
    "make_hypercube": "_generators",
    "make_linear_manifold": "_generators",
    # _scale_detection.py: the synthetic scale-detection task (Tomasini et al. 2023)
    "make_scale_detection": "_scale_detection",
    "make_scale_detection_1d": "_scale_detection",
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
