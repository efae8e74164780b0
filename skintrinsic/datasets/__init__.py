"""Datasets: loaders for real image data and generators of data with known structure."""

from .._lazy import attach

# public name -> private module that defines it
_LAZY = {
    # _loaders.py: real data (MNIST, MedMNIST, image folders); _fetch.py: data home, registry,
    # checksummed downloads; _preprocessing.py: the reference preprocessing
    "get_data_home": "_fetch",
    "load_mnist": "_loaders",
    "load_medmnist": "_loaders",
    "load_image_folder": "_loaders",
    "binary_task": "_loaders",
    # _natural.py: the RGB natural datasets (CIFAR-10 binary version, SVHN .mat files)
    "load_cifar10": "_natural",
    "load_svhn": "_natural",
    # _catalog.py: dataset names -> registry files, for `skintrinsic fetch`
    "fetch_datasets": "_catalog",
    "ReferencePreprocessor": "_preprocessing",
    # _subsets.py: the one stratified-subset helper (training subsets, reference samples)
    "stratified_subset": "_subsets",
    # _generators.py: manifolds of known intrinsic dimension
    "make_sphere": "_generators",
    "make_hypercube": "_generators",
    "make_linear_manifold": "_generators",
    # _scale_detection.py: the synthetic scale-detection task (Tomasini et al. 2023)
    "make_scale_detection": "_scale_detection",
    "make_scale_detection_1d": "_scale_detection",
}

__getattr__, __dir__, __all__ = attach(__name__, _LAZY)
