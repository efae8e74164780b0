"""Where real data lives, which files we know, and how they are fetched and verified.

Every known file has a registry entry: its name in the data folder, the URLs it can be
downloaded from (the official source first) and the md5 checksums we accept.  A file is
checked against them every time a loader opens it (memoized per process on size and
modification time, so repeated loads cost nothing), which is how a corrupted cache is found.

A download goes to a temporary file in the data folder itself, is verified there, and only
then renamed over the target with :func:`os.replace` (atomic on one file system): an
interrupted, truncated or wrong download never leaves anything under the final name.

The package ships none of these files; it only knows where to get them.
"""

import dataclasses
import hashlib
import http.client
import os
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

ENV_DATA_HOME = "SKINTRINSIC_DATA_HOME"
_DEFAULT_DATA_HOME = "~/skintrinsic_data"
_TIMEOUT = 60  # seconds without data before a download is given up
_MIN_RATE = 20_000  # bytes per second: the slowest transfer the overall deadline allows
_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """A file a loader can fetch.

    ``md5`` lists every checksum accepted for the file, the official one first.  ``urls``
    are tried in order; a download from any of them must match one of the checksums.
    ``max_bytes`` caps a download: no more is read from a server.
    """

    filename: str
    urls: tuple
    md5: tuple
    max_bytes: int


# MNIST: the official page is Yann LeCun's; the two mirrors are the ones PyTorch and
# TensorFlow download from.  The checksums and sizes are those of the official files.
_MNIST_MIRRORS = (
    "http://yann.lecun.com/exdb/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
_MNIST_MD5 = {  # name -> (md5, size in bytes)
    "train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
    "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432", 28881),
    "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3", 1648877),
    "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c", 4542),
}

# MedMNIST v3 (MedMNIST+), Zenodo record 10519652: URL pattern and md5 of every 2D file as
# listed in the ``INFO`` dict of the official ``medmnist`` package (medmnist/info.py,
# version 3.0.2), per image size.
_MEDMNIST_URL = "https://zenodo.org/records/10519652/files/{stem}.npz?download=1"
_MEDMNIST_SIZES = (28, 64, 128, 224)
_MEDMNIST_MD5 = {
    "pathmnist": ("a8b06965200029087d5bd730944a56c1", "55aa9c1e0525abe5a6b9d8343a507616",
                  "ac42d08fb904d92c244187169d1fd1d9", "2c51a510bcdc9cf8ddb2af93af1eadec"),
    "chestmnist": ("02c8a6516a18b556561a56cbdd36c4a8", "9de6cd0b934ebb5b7426cfba5efbae16",
                   "db107e5590b27930b62dbaf558aebee3", "45bd33e6f06c3e8cdb481c74a89152aa"),
    "dermamnist": ("0744692d530f8e62ec473284d019b0c7", "b70a2f5635c6199aeaa28c31d7202e1f",
                   "2defd784463fa5243564e855ed717de1", "8974907d8e169bef5f5b96bc506ae45d"),
    "octmnist": ("c68d92d5b585d8d81f7112f81e2d0842", "e229e9440236b774d9f0dfef9d07bdaf",
                 "0a97e76651ace45c5d943ee3f65b63ae", "abc493b6d529d5de7569faaef2773ba3"),
    "pneumoniamnist": ("28209eda62fecd6e6a2d98b1501bb15f", "8f4eceb4ccffa70c672198ea285246c6",
                       "05b46931834c231683c68f40c47b2971", "d6a3c71de1b945ea11211b03746c1fe1"),
    "retinamnist": ("bd4c0672f1bba3e3a89f0e4e876791e4", "afda852cc34dcda56f86ad2b2457dbcc",
                    "e48e916a24454daf90583d4e6efb1a18", "eae7e3b6f3fcbda4ae613ebdcbe35348"),
    "breastmnist": ("750601b1f35ba3300ea97c75c52ff8f6", "742edef2a1fd1524b2efff4bd7ba9364",
                    "363e4b3f8d712e9b5de15470a2aaadf1", "b56378a6eefa9fed602bb16d192d4c8b"),
    "bloodmnist": ("7053d0359d879ad8a5505303e11de1dc", "2b94928a2ae4916078ca51e05b6b800b",
                   "adace1e0ed228fccda1f39692059dd4c", "b718ff6835fcbdb22ba9eacccd7b2601"),
    "tissuemnist": ("ebe78ee8b05294063de985d821c1c34b", "123ece2eba09d0aa5d698fda57103344",
                    "61b955355d7425a89687b06cca3ce0c2", "b077128c4a949f0a4eb01517f9037b9c"),
    "organamnist": ("68e3f8846a6bd62f0c9bf841c0d9eacc", "2dcccc29b88e6da5a01161ef20cda288",
                    "eeae80d0a227a8d099027e1b3cfd3b60", "50747347e05c87dd3aaf92c49f9f3170"),
    "organcmnist": ("b9ceb9546e10131b32923c5bbeaea2b1", "3ce34a8724ea6f548e6db4744d03b6a9",
                    "773c1f009daa3fe5d9a2a201b2a7ed94", "050f5e875dc056f6768abf94ec9995d1"),
    "organsmnist": ("9ab87b696fb54e2a387ebe992d6ed5f1", "53a6d115339d874c25e309a994ff46d3",
                    "ded0c5fa01a95dc4978b956f613e9b8e", "b354719e553fbbb2513d5533f52a4cb1"),
}

# name -> (images in all three splits, channels, label columns), from the same INFO dict: a
# download may not exceed the uncompressed size of its arrays (plus a margin)
_MEDMNIST_COUNTS = {
    "pathmnist": (107180, 3, 1), "chestmnist": (112120, 1, 14), "dermamnist": (10015, 3, 1),
    "octmnist": (109309, 1, 1), "pneumoniamnist": (5856, 1, 1), "retinamnist": (1600, 3, 1),
    "breastmnist": (780, 1, 1), "bloodmnist": (17092, 3, 1), "tissuemnist": (236386, 1, 1),
    "organamnist": (58830, 1, 1), "organcmnist": (23583, 1, 1), "organsmnist": (25211, 1, 1),
}
# a download may exceed the registry's size by this factor (plus _SIZE_SLACK) and no more
_SIZE_MARGIN = 1.25
_SIZE_SLACK = 1 << 20


def _cap(n_bytes):
    return int(n_bytes * _SIZE_MARGIN) + _SIZE_SLACK


# The RGB natural datasets of Konz & Mazurowski: CIFAR-10's binary version (never the pickled
# one) from its authors' page, and SVHN's cropped digits as MATLAB files; the md5s are the ones
# the CIFAR page publishes and the ones torchvision checks for SVHN.  The sizes bound the
# download (the CIFAR-10 tarball is 170,052,171 bytes; the SVHN files hold 73,257 and 26,032
# uint8 images of 32x32x3 plus MATLAB's headers).
_NATURAL = {
    "cifar-10-binary.tar.gz": ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                               "c32a1d4ab5d03f1284b67883e8d87530", 170_052_171),
    "svhn-train_32x32.mat": ("http://ufldl.stanford.edu/housenumbers/train_32x32.mat",
                             "e26dedcc434d2e4c54c9b2d4a06d8373", 73_257 * (3072 + 8)),
    "svhn-test_32x32.mat": ("http://ufldl.stanford.edu/housenumbers/test_32x32.mat",
                            "eb5a983be6a315427106f1b164d9cef3", 26_032 * (3072 + 8)),
}


def medmnist_filename(name, size=28):
    """The official file name of a 2D MedMNIST dataset at ``size`` pixels."""
    return f"{name}.npz" if size == 28 else f"{name}_{size}.npz"


def _build_registry():
    registry = {}
    for official, (md5, n_bytes) in _MNIST_MD5.items():
        filename = "mnist-" + official
        registry[filename] = RemoteFile(filename, tuple(m + official for m in _MNIST_MIRRORS),
                                        (md5,), _cap(n_bytes))
    for name, md5s in _MEDMNIST_MD5.items():
        n_images, channels, label_columns = _MEDMNIST_COUNTS[name]
        for size, md5 in zip(_MEDMNIST_SIZES, md5s):
            filename = medmnist_filename(name, size)
            raw = n_images * (channels * size * size + label_columns)
            registry[filename] = RemoteFile(
                filename, (_MEDMNIST_URL.format(stem=filename[:-4]),), (md5,), _cap(raw))
    for filename, (url, md5, n_bytes) in _NATURAL.items():
        registry[filename] = RemoteFile(filename, (url,), (md5,), _cap(n_bytes))
    return registry


#: filename -> RemoteFile.  Tests point the URLs at a loopback server.
REGISTRY = _build_registry()


def default_data_home():
    """The data folder used when none is given: ``$SKINTRINSIC_DATA_HOME`` or the default.

    Unlike :func:`get_data_home` it creates nothing, so a caller can ask whether data are
    there without leaving an empty folder behind.
    """
    return data_home_path(None)


def get_data_home(data_home=None):
    """Return the folder that holds skintrinsic's real datasets, creating it if needed.

    The folder is, in order of precedence: ``data_home`` when given, the environment
    variable ``SKINTRINSIC_DATA_HOME`` when set, else ``~/skintrinsic_data``.  A ``~`` is
    expanded.  Files sit directly in it under their official names (MNIST's with an
    ``mnist-`` prefix, e.g. ``mnist-t10k-images-idx3-ubyte.gz``; MedMNIST's as
    ``pneumoniamnist.npz``), so a folder that already holds them can be used as it is,
    read-only if need be: nothing is written unless a file must be downloaded.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder to use; ``None`` means ``$SKINTRINSIC_DATA_HOME`` or
        ``~/skintrinsic_data``.

    Returns
    -------
    data_home : pathlib.Path
        The folder, which exists on return.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from skintrinsic.datasets import get_data_home
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     home = get_data_home(Path(tmp) / "data")
    ...     print(home.name, home.is_dir())
    data True
    """
    path = data_home_path(data_home)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(
            f"cannot create the data folder {path}: {exc}. Pass data_home= (or set "
            f"${ENV_DATA_HOME}) to a folder you can write to.") from exc
    return path


def data_home_path(data_home=None):
    """The folder :func:`get_data_home` means, without creating it."""
    if data_home is None:
        data_home = os.environ.get(ENV_DATA_HOME) or _DEFAULT_DATA_HOME
    if not isinstance(data_home, (str, os.PathLike)):
        raise TypeError(f"data_home must be a folder path (str or path-like), got "
                        f"{type(data_home).__name__}.")
    path = Path(os.fspath(data_home)).expanduser()
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(
            f"data_home {path} exists but is not a folder. Pass data_home= (or set "
            f"${ENV_DATA_HOME}) to a folder.")
    return path


# path -> (size, mtime_ns, ctime_ns, inode, md5): a verified file is hashed again only if it
# changed.  The status-change time is part of the key because an edit can restore the size and
# the modification time (os.utime), but every write or utime call moves st_ctime.
_VERIFIED = {}


def file_md5(path):
    """md5 hex digest of ``path``, memoized on its size, modification and change times, inode."""
    path = Path(path)
    stat = path.stat()
    key = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
    cached = _VERIFIED.get(str(path))
    if cached is not None and cached[:-1] == key:
        return cached[-1]
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    _VERIFIED[str(path)] = (*key, digest.hexdigest())
    return digest.hexdigest()


class ChecksumError(OSError):
    """A file in the data folder is not the registered one: ``problem`` says how, at ``path``."""

    def __init__(self, message, *, path, problem):
        super().__init__(message)
        self.path, self.problem = path, problem


def _expected(remote):
    return " or ".join(remote.md5)


def fetch(filename, data_home=None, *, download_if_missing=True, verbose=0):
    """Return the verified local path of the registered file ``filename``.

    A file already in ``data_home`` is used when its md5 is one the registry accepts.  A
    missing or corrupted file is downloaded (when ``download_if_missing``) or reported with
    an error that names the file and the fix.

    Returns
    -------
    path : pathlib.Path
    md5 : str
        The checksum of the file read, one of ``REGISTRY[filename].md5``.
    """
    remote = REGISTRY[filename]
    home = data_home_path(data_home)  # created only when a file must be downloaded into it
    path = home / filename
    problem = None
    if path.exists():
        md5 = file_md5(path)
        if md5 in remote.md5:
            return path, md5
        problem = (f"{path} is corrupted or is not the expected file: its md5 is {md5}, "
                   f"expected {_expected(remote)}.")
        by_path = ("" if not filename.endswith(".npz") else
                   f" To read this copy as it is, without a checksum, pass its path: "
                   f"load_medmnist({str(path)!r}).")
        if not download_if_missing:
            raise ChecksumError(
                f"{problem} Delete it and call again with download_if_missing=True to download "
                f"a fresh copy from {remote.urls[0]}, or replace it with a good copy.{by_path}",
                path=path, problem=problem)
        warnings.warn(f"{problem} Downloading a fresh copy to replace it.", UserWarning,
                      stacklevel=3)
    elif not download_if_missing:
        raise FileNotFoundError(
            f"{filename} was not found in {home}. Point data_home= (or ${ENV_DATA_HOME}) at "
            f"the folder that holds it, or pass download_if_missing=True to download it from "
            f"{remote.urls[0]}.")
    get_data_home(home)
    try:
        md5 = download(remote, path, verbose=verbose)
    except OSError as exc:
        if problem is not None:
            raise ChecksumError(f"{problem} Downloading a replacement failed too; the file was "
                                f"left as it was.{by_path}\n{exc}", path=path,
                                problem=problem) from exc
        raise
    return path, md5


class _Failed(Exception):
    """One URL's failure; collected into the final OSError."""


def download(remote, target, *, timeout=_TIMEOUT, verbose=0):
    """Download ``remote`` to ``target``: first URL that delivers a file with an accepted md5.

    ``timeout`` bounds each wait for data; each URL also gets an overall deadline of
    ``timeout`` plus the time ``remote.max_bytes`` takes at ``_MIN_RATE`` bytes per second, so a
    server that trickles data cannot hold the download forever.  No URL may deliver more than
    ``remote.max_bytes``.

    Raises OSError listing every URL tried and why it failed; nothing is left behind.
    """
    target = Path(target)
    failures = []
    for url in remote.urls:
        try:
            md5 = _download_one(url, remote, target, timeout=timeout, verbose=verbose,
                                deadline=time.monotonic() + timeout
                                + remote.max_bytes / _MIN_RATE)
        except _Failed as exc:
            failures.append(f"  - {url}: {exc}")
            continue
        _VERIFIED.pop(str(target), None)
        return md5
    raise OSError(
        f"could not download {remote.filename} into {target.parent}:\n" + "\n".join(failures)
        + f"\nCheck the network connection (or proxy), or download the file yourself from "
        f"{remote.urls[0]}, check that its md5 is {_expected(remote)}, and put it in "
        f"{target.parent}.")


def _download_one(url, remote, target, *, timeout, verbose, deadline):
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{remote.filename}.", suffix=".part",
                                   dir=target.parent)
    except OSError as exc:
        raise OSError(
            f"cannot write into the data folder {target.parent} ({exc}). Pass data_home= (or "
            f"set ${ENV_DATA_HOME}) to a folder you can write to.") from exc
    try:
        digest = hashlib.md5(usedforsecurity=False)
        received = 0
        with os.fdopen(fd, "wb") as out:
            try:
                request = urllib.request.Request(url, headers={"User-Agent": "skintrinsic"})
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    length = response.headers.get("Content-Length")
                    length = int(length) if length and length.isdigit() else None
                    if length is not None and length > remote.max_bytes:
                        raise _Failed(f"the server announces {length} bytes, more than the "
                                      f"{remote.max_bytes} a genuine {remote.filename} can take")
                    total = None if length is None else -(-length // _CHUNK)
                    # read1: whatever has arrived, so that the deadline is checked between
                    # the reads of a slow server (read would wait for a whole chunk)
                    chunks = iter(lambda: response.read1(_CHUNK), b"")
                    if verbose:
                        from .._compute import progress  # imports torch: only when shown

                        chunks = progress(chunks, verbose=verbose, total=total,
                                          desc=f"downloading {remote.filename}")
                    for chunk in chunks:
                        received += len(chunk)
                        if received > remote.max_bytes:
                            raise _Failed(f"the server sent more than the {remote.max_bytes} "
                                          f"bytes a genuine {remote.filename} can take")
                        if time.monotonic() > deadline:
                            raise _Failed(f"the overall deadline passed after {received} bytes "
                                          "(the server sends too slowly)")
                        out.write(chunk)
                        digest.update(chunk)
            except urllib.error.HTTPError as exc:
                raise _Failed(f"HTTP error {exc.code} ({exc.reason})") from exc
            except urllib.error.URLError as exc:
                raise _Failed(f"no connection ({exc.reason})") from exc
            except (OSError, http.client.HTTPException) as exc:
                raise _Failed(f"the transfer failed ({type(exc).__name__}: {exc})") from exc
        if length is not None and received != length:
            raise _Failed(f"truncated download: received {received} of {length} bytes")
        md5 = digest.hexdigest()
        if md5 not in remote.md5:
            raise _Failed(f"checksum mismatch: md5 of the {received} bytes received is {md5}, "
                          f"expected {_expected(remote)}")
        os.replace(tmp, target)
        return md5
    finally:
        # after os.replace the temporary name is gone; otherwise it must not survive
        if os.path.exists(tmp):
            os.unlink(tmp)
