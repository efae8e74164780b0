"""Dataset names and the files behind them: what ``skintrinsic fetch NAME...`` downloads.

A name is what a user types (``mnist``, ``pneumoniamnist``, ``cifar10``, ``svhn``); the
files are registry entries of :mod:`._fetch`, so every download is checksummed by the same
code whichever loader later reads it.
"""

import warnings

from ._fetch import REGISTRY, fetch, file_md5, get_data_home
from .._validation import user_stacklevel
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


def fetch_datasets(names, *, data_home=None, replace=False, verbose=0):
    """Download the named datasets into the data folder, each file checked against its md5.

    A file already present with an accepted checksum is kept as it is, and a missing one is
    downloaded.  A file present with another checksum (a copy that is not the official file,
    or a damaged download) is kept with a warning that names both checksums, unless
    ``replace`` asks for the official file instead.  All names are checked before anything
    is downloaded.

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
    replace : bool, default=False
        Download the official file over a present file whose checksum differs.
    verbose : int, default=0
        Show a progress bar per download.

    Returns
    -------
    paths : dict of str to list of pathlib.Path
        The local files of each dataset (verified, or kept with a warning).

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
    return {name: [_kept_or_fetched(f, home, replace, verbose) for f in filenames]
            for name, filenames in files.items()}


def _kept_or_fetched(filename, home, replace, verbose):
    path = home / filename
    if path.is_file() and not replace:
        expected = REGISTRY[filename].md5
        md5 = file_md5(path)
        if md5 not in expected:
            warnings.warn(
                f"{path} is not the official file: its md5 is {md5}, expected "
                f"{' or '.join(expected)}. It is kept as it is; loaders read it by its path, "
                "without a checksum. Pass replace=True (skintrinsic fetch --replace) to "
                "download the official file over it.", UserWarning,
                stacklevel=user_stacklevel())
            return path
    return fetch(filename, home, verbose=verbose)[0]
