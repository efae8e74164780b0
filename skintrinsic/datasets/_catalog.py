"""Dataset names and the files behind them: what ``skintrinsic fetch NAME...`` downloads.

A name is what a user types (``mnist``, ``pneumoniamnist``, ``cifar10``, ``svhn``); the
files are registry entries of :mod:`._fetch`, so every download is checksummed by the same
code whichever loader later reads it.
"""

from ._fetch import REGISTRY, fetch, get_data_home
from ._natural import CIFAR10_FILE, SVHN_FILES

__all__ = ["fetch_datasets", "dataset_files"]


def _catalog():
    catalog = {
        # the test set, which `profile mnist` and load_mnist() read by default
        "mnist": tuple(sorted(f for f in REGISTRY if f.startswith("mnist-t10k"))),
        "mnist_train": tuple(sorted(f for f in REGISTRY if f.startswith("mnist-train"))),
        "cifar10": (CIFAR10_FILE,),
        "svhn": tuple(SVHN_FILES.values()),
    }
    for filename in REGISTRY:
        if filename.endswith(".npz"):  # MedMNIST: pneumoniamnist, pneumoniamnist_64, ...
            catalog[filename[:-4]] = (filename,)
    return catalog


def dataset_files(name):
    """The registry files of the dataset ``name`` (case does not matter)."""
    catalog = _catalog()
    key = str(name).lower().replace("-", "_")
    if key not in catalog:
        medmnist = sorted(k for k in catalog if "_" not in k and k.endswith("mnist")
                          and k != "mnist")
        raise ValueError(
            f"unknown dataset {name!r}; the known ones are mnist (its test set), mnist_train, "
            f"cifar10, svhn and the 2D "
            f"MedMNIST sets ({', '.join(medmnist)}; add _64, _128 or _224 for a larger "
            "size).")
    return catalog[key]


def fetch_datasets(names, *, data_home=None, verbose=0):
    """Download the named datasets into the data folder, each file checked against its md5.

    A file already present with an accepted checksum is kept as it is; a missing or
    corrupted one is downloaded.  All names are checked before anything is downloaded.

    Parameters
    ----------
    names : sequence of str
        Dataset names: ``"mnist"`` (the official test-set IDX files; ``"mnist_train"`` for
        the train set), ``"cifar10"`` (the binary
        version), ``"svhn"`` (the train and test cropped-digit files), or a 2D MedMNIST name
        such as ``"pneumoniamnist"`` (``"pneumoniamnist_224"`` for the 224-pixel file).
    data_home : str or path-like, default=None
        Folder of the data files; ``None`` means ``$SKINTRINSIC_DATA_HOME`` or
        ``~/skintrinsic_data`` (see :func:`get_data_home`).
    verbose : int, default=0
        Show a progress bar per download.

    Returns
    -------
    paths : dict of str to list of pathlib.Path
        The verified local files of each dataset.

    Examples
    --------
    >>> from skintrinsic.datasets import fetch_datasets
    >>> fetch_datasets(["mnist", "pneumoniamnist"])  # doctest: +SKIP
    """
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"names must be a list of dataset names (str), e.g. ['mnist'], got "
                        f"{names!r}.")
    files = {name: dataset_files(name) for name in names}  # every name checked first
    home = get_data_home(data_home)
    return {name: [fetch(f, home, verbose=verbose)[0] for f in filenames]
            for name, filenames in files.items()}
