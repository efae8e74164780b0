"""Loaders of the RGB natural-image datasets of the paper: CIFAR-10 and SVHN.

Both are read from their official files, verified against the published checksums by the
same fetcher as MNIST and MedMNIST (:mod:`._fetch`):

- CIFAR-10 from its *binary* version, ``cifar-10-binary.tar.gz``: fixed-length records of
  one label byte and 3072 pixel bytes (1024 red, 1024 green, 1024 blue, each 32x32 row by
  row).  The Python version of the same data is a pickle, which can run code when read; it
  is never used.  The archive is read in place (nothing is extracted).
- SVHN's cropped digits from ``train_32x32.mat`` and ``test_32x32.mat`` (MATLAB v5 files,
  read with :func:`scipy.io.loadmat`): ``X`` of shape (32, 32, 3, n) and ``y`` of shape
  (n, 1), where the label 10 stands for the digit 0.

Images come out channels first, ``(n, 3, 32, 32)`` ``uint8``, like every colour loader here.
"""

import tarfile

import numpy as np
from sklearn.utils import Bunch

from ._fetch import fetch

__all__ = ["load_cifar10", "load_svhn"]

CIFAR10_FILE = "cifar-10-binary.tar.gz"
_CIFAR10_DIR = "cifar-10-batches-bin"
_CIFAR10_MEMBERS = {
    "train": tuple(f"{_CIFAR10_DIR}/data_batch_{i}.bin" for i in range(1, 6)),
    "test": (f"{_CIFAR10_DIR}/test_batch.bin",),
}
_CIFAR10_META = f"{_CIFAR10_DIR}/batches.meta.txt"
_CIFAR10_RECORD = 1 + 3 * 32 * 32
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
_CIFAR10_DESCR = """\
CIFAR-10 (Krizhevsky 2009): 32x32 colour photographs of 10 classes (airplane, automobile,
bird, cat, deer, dog, frog, horse, ship, truck), 50000 in the train set and 10000 in the
test set, read from the official binary version
(https://www.cs.toronto.edu/~kriz/cifar.html)."""

SVHN_FILES = {"train": "svhn-train_32x32.mat", "test": "svhn-test_32x32.mat"}
_SVHN_DESCR = """\
SVHN, cropped digits (Netzer et al. 2011): 32x32 colour crops of house numbers from Google
Street View, digits 0-9, 73257 in the train set and 26032 in the test set, read from the
official MATLAB files (http://ufldl.stanford.edu/housenumbers/).  Non-commercial use only."""


def _subsets(subset):
    options = ("train", "test", "all")
    if subset not in options:
        raise ValueError(f"subset must be one of {', '.join(map(repr, options))}; "
                         f"got {subset!r}.")
    return ("train", "test") if subset == "all" else (subset,)


def _bunch(images, labels, parts, target_names, filenames, descr, return_X_y):
    data = np.concatenate(images) if len(images) > 1 else images[0]
    target = np.concatenate(labels) if len(labels) > 1 else labels[0]
    if return_X_y:
        return data, target
    subset = np.concatenate([np.full(len(y), p) for y, p in zip(labels, parts)])
    return Bunch(data=data, target=target, target_names=np.array(target_names), subset=subset,
                 filenames=filenames, DESCR=descr)


# ------------------------------------------------------------------------------------ CIFAR-10

def _read_cifar10_member(archive, name, path):
    try:
        member = archive.getmember(name)
    except KeyError:
        raise ValueError(f"{path} lacks {name}; it is not the CIFAR-10 binary version "
                         f"(cifar-10-binary.tar.gz). Delete it and fetch it again.") from None
    if not member.isfile():
        raise ValueError(f"{path}: {name} is not a regular file.")
    raw = archive.extractfile(member).read()
    if len(raw) == 0 or len(raw) % _CIFAR10_RECORD:
        raise ValueError(f"{path}: {name} holds {len(raw)} bytes, not a whole number of "
                         f"{_CIFAR10_RECORD}-byte records (1 label byte + 3072 pixel bytes).")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _CIFAR10_RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise ValueError(f"{path}: {name} has label {labels.max()}; CIFAR-10 labels are 0-9.")
    # each record stores the red, green and blue planes in turn: channels first already
    images = records[:, 1:].reshape(-1, 3, 32, 32).copy()
    return images, labels


def load_cifar10(subset="test", *, data_home=None, download_if_missing=True, return_X_y=False,
                 verbose=0):
    """Load CIFAR-10 from its official binary version.

    The archive ``cifar-10-binary.tar.gz`` (162 MB) sits in ``data_home`` under its official
    name and is checked against its published md5 before it is read.  It is read in place:
    nothing is extracted and nothing is unpickled.

    Parameters
    ----------
    subset : {"test", "train", "all"}, default="test"
        The 10000-image test batch, the five train batches (50000 images), or both (train
        first).
    data_home : str or path-like, default=None
        Folder of the data files; ``None`` means ``$SKINTRINSIC_DATA_HOME`` or
        ``~/skintrinsic_data`` (see :func:`get_data_home`).
    download_if_missing : bool, default=True
        Download a missing or corrupted archive from the authors' page.  If False, such a
        file raises an ``OSError`` that names it.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    verbose : int, default=0
        Show a progress bar while downloading.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With ``data`` (ndarray (n, 3, 32, 32) uint8, channels first), ``target`` (ndarray
        (n,) int64, 0-9), ``target_names`` (the ten class names), ``subset`` (ndarray (n,)
        of "train"/"test"), ``filenames`` and ``DESCR``.
    (data, target) : tuple if ``return_X_y`` is True
        The ``data`` and ``target`` arrays of the Bunch.

    Examples
    --------
    >>> from skintrinsic.datasets import load_cifar10
    >>> X, y = load_cifar10(return_X_y=True)  # doctest: +SKIP
    >>> X.shape, X.dtype  # doctest: +SKIP
    ((10000, 3, 32, 32), dtype('uint8'))
    """
    parts = _subsets(subset)
    path, _ = fetch(CIFAR10_FILE, data_home, download_if_missing=download_if_missing,
                    verbose=verbose)
    images, labels = [], []
    try:
        with tarfile.open(path, "r:gz") as archive:
            for part in parts:
                read = [_read_cifar10_member(archive, m, path) for m in _CIFAR10_MEMBERS[part]]
                images.append(np.concatenate([r[0] for r in read]))
                labels.append(np.concatenate([r[1] for r in read]))
            names = _cifar10_names(archive)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ValueError(f"{path} cannot be read as a .tar.gz archive ({exc}); delete it and "
                         "fetch it again.") from exc
    return _bunch(images, labels, parts, names, [str(path)], _CIFAR10_DESCR, return_X_y)


def _cifar10_names(archive):
    """Class names from batches.meta.txt (one per line), else the documented ones."""
    try:
        text = archive.extractfile(_CIFAR10_META).read().decode("ascii")
    except (KeyError, AttributeError, UnicodeDecodeError):
        return CIFAR10_CLASSES
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    return names if len(names) == 10 else CIFAR10_CLASSES


# ---------------------------------------------------------------------------------------- SVHN

def _read_svhn(path):
    import scipy.io

    try:
        mat = scipy.io.loadmat(path, variable_names=("X", "y"))
    except (ValueError, TypeError, OSError, NotImplementedError) as exc:
        raise ValueError(f"{path} cannot be read as a MATLAB file ({exc}); delete it and fetch "
                         "it again.") from exc
    missing = [k for k in ("X", "y") if k not in mat]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}; an SVHN cropped-digits file holds "
                         "X (32, 32, 3, n) and y (n, 1).")
    X, y = mat["X"], np.asarray(mat["y"]).reshape(-1)
    if X.ndim != 4 or X.shape[2] != 3 or X.shape[3] != len(y):
        raise ValueError(f"{path}: X has shape {X.shape} and y {len(y)} labels; expected X of "
                         "shape (H, W, 3, n) with one label per image.")
    y = y.astype(np.int64)
    if y.min() < 1 or y.max() > 10:
        raise ValueError(f"{path}: labels range over {y.min()}-{y.max()}; SVHN's are 1-10.")
    # (H, W, C, n) -> (n, C, H, W); the label 10 stands for the digit 0
    return np.ascontiguousarray(X.transpose(3, 2, 0, 1), dtype=np.uint8), y % 10


def load_svhn(subset="test", *, data_home=None, download_if_missing=True, return_X_y=False,
              verbose=0):
    """Load SVHN's cropped digits from the official MATLAB files.

    The files sit in ``data_home`` as ``svhn-train_32x32.mat`` and ``svhn-test_32x32.mat``
    and are checked against their md5 before they are read (with :func:`scipy.io.loadmat`).

    Parameters
    ----------
    subset : {"test", "train", "all"}, default="test"
        The 26032-image test set (64 MB), the 73257-image train set (182 MB), or both
        (train first).  The "extra" set is not included.
    data_home : str or path-like, default=None
        Folder of the data files; ``None`` means ``$SKINTRINSIC_DATA_HOME`` or
        ``~/skintrinsic_data`` (see :func:`get_data_home`).
    download_if_missing : bool, default=True
        Download a missing or corrupted file from the official page.  If False, such a file
        raises an ``OSError`` that names it.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    verbose : int, default=0
        Show a progress bar while downloading.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With ``data`` (ndarray (n, 3, 32, 32) uint8, channels first), ``target`` (ndarray
        (n,) int64: the digit, 0-9, where the files say 10 for 0), ``target_names`` (0..9),
        ``subset``, ``filenames`` and ``DESCR``.
    (data, target) : tuple if ``return_X_y`` is True
        The ``data`` and ``target`` arrays of the Bunch.

    Examples
    --------
    >>> from skintrinsic.datasets import load_svhn
    >>> X, y = load_svhn(return_X_y=True)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (26032, 3, 32, 32)
    """
    parts = _subsets(subset)
    images, labels, filenames = [], [], []
    for part in parts:
        path, _ = fetch(SVHN_FILES[part], data_home, download_if_missing=download_if_missing,
                        verbose=verbose)
        X, y = _read_svhn(path)
        images.append(X)
        labels.append(y)
        filenames.append(str(path))
    return _bunch(images, labels, parts, np.arange(10), filenames, _SVHN_DESCR, return_X_y)
