"""Loaders of real image datasets (MNIST, MedMNIST, image folders) and the paper's binary tasks.

Every loader returns images in the layout the rest of the package takes: ``(n, H, W)`` for
one channel, ``(n, C, H, W)`` (channels first, as torch wants) for colour, in their stored
dtype (``uint8`` for all the known datasets).  ``return_X_y=True`` gives ``(data, target)``
instead of the :class:`~sklearn.utils.Bunch`.

Files are found in, or downloaded to, :func:`get_data_home` and verified against the
registry in :mod:`._fetch` before they are read.
"""

import gzip
import math
import numbers
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch, check_random_state

from .._validation import as_array, check_memory, unique_labels
from ._fetch import fetch, medmnist_filename
from ._subsets import stratified_subset

__all__ = ["load_mnist", "load_medmnist", "load_image_folder", "binary_task"]

_MNIST_FILES = {
    "train": ("mnist-train-images-idx3-ubyte.gz", "mnist-train-labels-idx1-ubyte.gz"),
    "test": ("mnist-t10k-images-idx3-ubyte.gz", "mnist-t10k-labels-idx1-ubyte.gz"),
}
_IDX_IMAGES, _IDX_LABELS = 2051, 2049

_MNIST_DESCR = """\
MNIST (LeCun, Cortes and Burges): 28x28 grey-level images of handwritten digits 0-9, 60000
in the train set and 10000 in the test set, read from the official IDX files
(http://yann.lecun.com/exdb/mnist/).  Licence: CC BY-SA 3.0."""

_ORGAN_LABELS = ("bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right",
                 "liver", "lung-left", "lung-right", "pancreas", "spleen")
# name -> (label names, task, licence): the metadata of the official medmnist INFO dict (v3)
_MEDMNIST_INFO = {
    "pathmnist": (("adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle",
                   "normal colon mucosa", "cancer-associated stroma",
                   "colorectal adenocarcinoma epithelium"), "multi-class", "CC BY 4.0"),
    "chestmnist": (("atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule",
                    "pneumonia", "pneumothorax", "consolidation", "edema", "emphysema",
                    "fibrosis", "pleural", "hernia"), "multi-label, binary-class", "CC BY 4.0"),
    "dermamnist": (("actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma",
                    "benign keratosis-like lesions", "dermatofibroma", "melanoma",
                    "melanocytic nevi", "vascular lesions"), "multi-class", "CC BY-NC 4.0"),
    "octmnist": (("choroidal neovascularization", "diabetic macular edema", "drusen", "normal"),
                 "multi-class", "CC BY 4.0"),
    "pneumoniamnist": (("normal", "pneumonia"), "binary-class", "CC BY 4.0"),
    "retinamnist": (("0", "1", "2", "3", "4"), "ordinal-regression", "CC BY 4.0"),
    "breastmnist": (("malignant", "normal, benign"), "binary-class", "CC BY 4.0"),
    "bloodmnist": (("basophil", "eosinophil", "erythroblast",
                    "immature granulocytes(myelocytes, metamyelocytes and promyelocytes)",
                    "lymphocyte", "monocyte", "neutrophil", "platelet"), "multi-class",
                   "CC BY 4.0"),
    "tissuemnist": (("Collecting Duct, Connecting Tubule", "Distal Convoluted Tubule",
                     "Glomerular endothelial cells", "Interstitial endothelial cells",
                     "Leukocytes", "Podocytes", "Proximal Tubule Segments",
                     "Thick Ascending Limb"), "multi-class", "CC BY 4.0"),
    "organamnist": (_ORGAN_LABELS, "multi-class", "CC BY 4.0"),
    "organcmnist": (_ORGAN_LABELS, "multi-class", "CC BY 4.0"),
    "organsmnist": (_ORGAN_LABELS, "multi-class", "CC BY 4.0"),
}
_MEDMNIST_SPLITS = ("train", "val", "test")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# Pillow modes with one band; everything else is read as RGB (alpha dropped)
_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


def _check_option(value, name, options):
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}.")


def _finish(bunch, return_X_y):
    return (bunch.data, bunch.target) if return_X_y else bunch


# --------------------------------------------------------------------------------------- MNIST

_GZIP_MAGIC = b"\x1f\x8b"


def _open_idx(path):
    """Open an IDX file for reading, gzipped (as the official files are) or plain."""
    with open(path, "rb") as f:
        gzipped = f.read(2) == _GZIP_MAGIC
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def _read_idx(path, magic, n_dims):
    """Read one IDX file, gzipped or plain: a big-endian header (magic, dims) then uint8 values."""
    try:
        with _open_idx(path) as f:
            header = f.read(4 * (1 + n_dims))
            if len(header) < 4 * (1 + n_dims):
                raise ValueError(f"{path} is too short to be an IDX file.")
            values = np.frombuffer(header, dtype=">u4")
            if values[0] != magic:
                raise ValueError(f"{path} is not an IDX file of the expected kind: magic number "
                                 f"{int(values[0])}, expected {magic}.")
            shape = tuple(int(v) for v in values[1:])
            _check_idx_size(path, shape, gzipped=isinstance(f, gzip.GzipFile))
            out = np.empty(shape, dtype=np.uint8)
            n_read = _read_into(f, memoryview(out).cast("B"))
            if n_read != out.size or f.read(1):
                raise ValueError(f"{path} does not hold the {out.size} values its header "
                                 "announces; it is truncated or not an IDX file.")
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ValueError(f"{path} is truncated or corrupted ({type(exc).__name__}: {exc}); "
                         "download it again or replace it with a good copy.") from None
    return out


def _read_into(f, view, chunk=1 << 20):
    """Fill ``view`` from ``f`` in chunks: gzip's readinto would first build a copy of all."""
    filled = 0
    while filled < len(view):
        n = f.readinto(view[filled:filled + chunk])
        if not n:
            break
        filled += n
    return filled


# deflate stores at most about 1032 bytes per compressed byte
_MAX_GZIP_RATIO = 1032


def _check_idx_size(path, shape, *, gzipped):
    """Refuse a header that announces more values than the file or the memory can hold."""
    announced = math.prod(shape)
    size = os.path.getsize(path)
    most = size * _MAX_GZIP_RATIO if gzipped else size - 4 * (1 + len(shape))
    if announced > most:
        raise ValueError(f"the header of {path} announces {shape} = {announced} values, more than "
                         f"its {size} bytes can hold; the file is truncated or corrupted.")
    check_memory(announced, what=f"reading {path} ({shape} values)",
                 fix="Read a smaller file, or free memory.")


def load_mnist(subset="test", *, data_home=None, download_if_missing=True, return_X_y=False,
               verbose=0):
    """Load MNIST from its official IDX files.

    The files sit in ``data_home`` as ``mnist-<official name>``, e.g.
    ``mnist-t10k-images-idx3-ubyte.gz``; each is checked against the official md5 before
    it is read.

    Parameters
    ----------
    subset : {"test", "train", "all"}, default="test"
        The 10000-image test set (t10k), the 60000-image train set, or both (train first).
        The default is the test set, the smaller download (1.6 MB).
    data_home : str or path-like, default=None
        Folder of the data files; ``None`` means ``$SKINTRINSIC_DATA_HOME`` or
        ``~/skintrinsic_data`` (see :func:`get_data_home`).
    download_if_missing : bool, default=True
        Download a missing or corrupted file from the official page (or the PyTorch and
        TensorFlow mirrors).  If False, such a file raises an ``OSError`` that names it.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    verbose : int, default=0
        Show a progress bar while downloading.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With ``data`` (ndarray (n, 28, 28) uint8), ``target`` (ndarray (n,) int64, the
        digit), ``target_names`` (0..9), ``subset`` (ndarray (n,) of "train"/"test"),
        ``filenames`` (the files read) and ``DESCR``.
    (data, target) : tuple if ``return_X_y`` is True
        The ``data`` and ``target`` arrays of the Bunch.

    Examples
    --------
    >>> from skintrinsic.datasets import load_mnist
    >>> X, y = load_mnist(return_X_y=True)  # doctest: +SKIP
    >>> X.shape, X.dtype  # doctest: +SKIP
    ((10000, 28, 28), dtype('uint8'))
    """
    _check_option(subset, "subset", ("test", "train", "all"))
    parts = ("train", "test") if subset == "all" else (subset,)
    images, labels, names, filenames = [], [], [], []
    for part in parts:
        image_file, label_file = _MNIST_FILES[part]
        image_path, _ = fetch(image_file, data_home, download_if_missing=download_if_missing,
                              verbose=verbose)
        label_path, _ = fetch(label_file, data_home, download_if_missing=download_if_missing,
                              verbose=verbose)
        X = _read_idx(image_path, _IDX_IMAGES, 3)
        y = _read_idx(label_path, _IDX_LABELS, 1)
        if len(X) != len(y):
            raise ValueError(f"{image_path} holds {len(X)} images but {label_path} holds "
                             f"{len(y)} labels; the two files must come from the same set.")
        images.append(X)
        labels.append(y.astype(np.int64))
        names.append(np.full(len(y), part))
        filenames += [str(image_path), str(label_path)]
    data = images[0] if len(images) == 1 else np.concatenate(images)
    target = labels[0] if len(labels) == 1 else np.concatenate(labels)
    bunch = Bunch(data=data, target=target, target_names=np.arange(10),
                  subset=np.concatenate(names), filenames=filenames, DESCR=_MNIST_DESCR)
    return _finish(bunch, return_X_y)


# ------------------------------------------------------------------------------------ MedMNIST

def _medmnist_arrays(npz, split, path):
    keys = (f"{split}_images", f"{split}_labels")
    missing = [k for k in keys if k not in npz.files]
    if missing:
        raise ValueError(
            f"{path} lacks {', '.join(missing)}; a MedMNIST .npz holds train_images, "
            f"train_labels, val_images, val_labels, test_images and test_labels. Found: "
            f"{', '.join(npz.files)}.")
    images, labels = npz[keys[0]], npz[keys[1]]
    if images.ndim == 4 and images.shape[-1] in (3, 4):
        # stored channels last (n, H, W, C); the package works channels first
        images = np.ascontiguousarray(np.moveaxis(images, -1, 1))
    elif images.ndim != 3:
        raise ValueError(f"{path}: {keys[0]} has shape {images.shape}; expected (n, H, W) or "
                         "(n, H, W, C).")
    labels = _integer_labels(labels, f"{path}: {keys[1]}")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if len(labels) != len(images):
        raise ValueError(f"{path}: {keys[0]} holds {len(images)} images but {keys[1]} "
                         f"{len(labels)} labels.")
    return images, labels


def _integer_labels(labels, where):
    """Class indices as int64; float, NaN or text labels are refused rather than truncated."""
    labels = np.asarray(labels)
    if labels.dtype.kind in "iub":
        return labels.astype(np.int64)
    if labels.dtype.kind == "f":
        finite = np.isfinite(labels)
        if finite.all() and np.array_equal(labels, np.round(labels)) \
                and np.abs(labels).max(initial=0) < 2**62:
            return labels.astype(np.int64)
        bad = labels[~finite | (np.round(np.where(finite, labels, 0)) != labels)]
        raise ValueError(f"{where} must hold integer class indices; it holds non-integer values "
                         f"such as {bad[:3].tolist()}. Fix the labels in the file.")
    raise ValueError(f"{where} must hold integer class indices; got dtype {labels.dtype}. Store "
                     "the labels as integers.")


def load_medmnist(name="pneumoniamnist", *, split="train", size=28, data_home=None,
                  download_if_missing=True, return_X_y=False, verbose=0):
    """Load a 2D MedMNIST dataset (Yang et al. 2023) from its official ``.npz`` file.

    Parameters
    ----------
    name : str or path-like, default="pneumoniamnist"
        A 2D MedMNIST dataset: ``"pneumoniamnist"``, ``"breastmnist"``, ``"chestmnist"``,
        ``"dermamnist"``, ``"octmnist"``, ``"retinamnist"``, ``"bloodmnist"``,
        ``"tissuemnist"``, ``"pathmnist"``, ``"organamnist"``, ``"organcmnist"`` or
        ``"organsmnist"`` (case does not matter); or the path of any ``.npz`` file in the
        MedMNIST layout, which is read as it is, without a checksum.
    split : {"train", "val", "test", "all"}, default="train"
        The official split, or all three concatenated in that order.
    size : {28, 64, 128, 224}, default=28
        Image size of the MedMNIST+ file to read (``<name>_<size>.npz`` for sizes above 28).
    data_home : str or path-like, default=None
        Folder of the data files; ``None`` means ``$SKINTRINSIC_DATA_HOME`` or
        ``~/skintrinsic_data`` (see :func:`get_data_home`).
    download_if_missing : bool, default=True
        Download a missing or corrupted file from the official Zenodo record (10519652).
        If False, such a file raises an ``OSError`` that names it.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    verbose : int, default=0
        Show a progress bar while downloading.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With ``data`` (ndarray (n, H, W) or (n, 3, H, W) uint8, channels first),
        ``target`` (ndarray (n,) int64; (n, 14) for the multi-label ChestMNIST),
        ``target_names``, ``split`` (ndarray (n,) of split names), ``task``, ``filename``,
        ``md5``, ``variant`` and ``DESCR``.
    (data, target) : tuple if ``return_X_y`` is True
        The ``data`` and ``target`` arrays of the Bunch.

    Notes
    -----
    A dataset named by ``name`` is checked against the md5 listed by the official
    ``medmnist`` package (``INFO``, version 3.0.2); ``variant`` is then ``"official"``.
    Any other copy of a MedMNIST file (an older release, a subset of your own) is read
    by passing its path as ``name``, without a checksum; ``variant`` is then
    ``"unverified local file"``.

    Examples
    --------
    >>> from skintrinsic.datasets import load_medmnist
    >>> X, y = load_medmnist("pneumoniamnist", split="test", return_X_y=True)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (624, 28, 28)
    """
    _check_option(split, "split", (*_MEDMNIST_SPLITS, "all"))
    _check_option(size, "size", (28, 64, 128, 224))
    key = os.fspath(name).lower() if isinstance(name, (str, os.PathLike)) else name
    if key in _MEDMNIST_INFO:
        path, md5 = fetch(medmnist_filename(key, size), data_home,
                          download_if_missing=download_if_missing, verbose=verbose)
        variant = "official"
        target_names, task, licence = _MEDMNIST_INFO[key]
        target_names = np.array(target_names)
        descr = (f"{key} (MedMNIST v3, Yang et al. 2023), {size}x{size} pixels, task: {task}, "
                 f"licence: {licence}. File {path.name}, md5 {md5} ({variant}).")
    elif isinstance(name, (str, os.PathLike)) and Path(name).suffix == ".npz":
        path = Path(name).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist; pass the path of a MedMNIST .npz "
                                    "file or a MedMNIST dataset name.")
        md5, variant, target_names, task = None, "unverified local file", None, None
        descr = f"MedMNIST-layout file {path}, read without a checksum."
    else:
        raise ValueError(f"unknown MedMNIST dataset {name!r}; known 2D datasets: "
                         f"{', '.join(sorted(_MEDMNIST_INFO))}, or pass the path of a .npz file.")
    splits = _MEDMNIST_SPLITS if split == "all" else (split,)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = [_medmnist_arrays(npz, s, path) for s in splits]
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{path} is not a readable .npz file ({type(exc).__name__}: {exc}); "
                         "it is truncated or corrupted. Download it again or replace it.") from None
    except ValueError as exc:
        if "allow_pickle" not in str(exc) and "pickled" not in str(exc):
            raise
        raise ValueError(f"{path} holds pickled objects, which are never loaded; a MedMNIST "
                         ".npz holds plain numeric arrays.") from None
    data = np.concatenate([a[0] for a in arrays]) if len(arrays) > 1 else arrays[0][0]
    target = np.concatenate([a[1] for a in arrays]) if len(arrays) > 1 else arrays[0][1]
    bunch = Bunch(data=data, target=target, target_names=target_names,
                  split=np.concatenate([np.full(len(a[1]), s) for a, s in zip(arrays, splits)]),
                  task=task, filename=str(path), md5=md5, variant=variant, DESCR=descr)
    return _finish(bunch, return_X_y)


# -------------------------------------------------------------------------------- image folder

def _image_files(root):
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"path must be a folder path (str or path-like), got "
                        f"{type(root).__name__}.")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder; pass a folder with one sub-folder "
                                 "of images per class.")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(f"{root} has no class sub-folders; put the images of each class in "
                         "a sub-folder named after the class.")
    files, target = [], []
    for index, folder in enumerate(classes):
        found = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                       and p.suffix.lower() in _IMAGE_SUFFIXES)
        if not found:
            raise ValueError(f"class folder {folder} holds no PNG or JPEG image; remove it or "
                             "add images.")
        files += found
        target += [index] * len(found)
    return files, np.array(target, dtype=np.int64), np.array([c.name for c in classes])


def _read_image(path, gray, size):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if gray:
                # single-band images keep their depth (16-bit, float); the rest become 8-bit L
                deep = img.mode in _GRAY_MODES and img.mode not in ("1", "LA", "La")
                mode = img.mode if deep else "L"
            else:
                mode = "RGB"
            if img.mode != mode:
                img = img.convert(mode)
            if size is not None and img.size != (size[1], size[0]):
                if img.mode.startswith("I;16"):
                    img = img.convert("I")  # Pillow resamples 16-bit images only as 32-bit
                img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            array = np.asarray(img)
    except (OSError, UnidentifiedImageError) as exc:
        raise ValueError(f"cannot read the image {path} ({exc}); remove or replace it.") from exc
    return array if gray else np.moveaxis(array, -1, 0)


def _image_mode(path):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return img.mode
    except (OSError, UnidentifiedImageError) as exc:
        raise ValueError(f"cannot read the image {path} ({exc}); remove or replace it.") from exc


def _image_size(size):
    pair = (size, size) if isinstance(size, numbers.Integral) else size
    try:
        pair = tuple(pair)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool)
                                 and s > 0 for s in pair):
        raise ValueError(f"size must be a positive int or a (height, width) pair of positive "
                         f"ints; got {size!r}.")
    return tuple(int(s) for s in pair)


def _check_one_depth(files, arrays):
    """8-bit and 16-bit images hold values on different scales: they must not be mixed."""
    first = {}
    for f, a in zip(files, arrays):
        first.setdefault(a.dtype, f)
    if len(first) > 1:
        examples = "; ".join(f"{f} is {dtype}" for dtype, f in first.items())
        raise ValueError(f"the images mix pixel types ({examples}), whose values are on "
                         "different scales (e.g. 0-255 and 0-65535). Convert them to one bit "
                         "depth first.")


def load_image_folder(path, *, size=None, color_mode="auto", return_X_y=False, verbose=0):
    """Load a folder of PNG/JPEG images with one sub-folder per class (read with Pillow).

    Parameters
    ----------
    path : str or path-like
        The folder.  Each sub-folder is a class, named by the folder; classes are sorted by
        name and labelled 0, 1, ...  Files other than ``.png``, ``.jpg`` and ``.jpeg``, and
        hidden files, are ignored.
    size : int or (int, int), default=None
        Resize every image to ``size`` x ``size`` (or ``(height, width)``) with bilinear
        resampling.  ``None`` keeps the images as they are, which requires them all to have
        one size.
    color_mode : {"auto", "grayscale", "rgb"}, default="auto"
        ``"auto"``: grayscale if every image has a single band (Pillow modes L, 1, I, I;16,
        F, and LA with its alpha dropped), else RGB.  ``"grayscale"`` and ``"rgb"`` convert.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    verbose : int, default=0
        Show a progress bar over the files.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With ``data`` (ndarray (n, H, W) grayscale or (n, 3, H, W) RGB; ``uint8`` for
        8-bit images, the wider Pillow dtype for 16-bit or float images), ``target``
        (ndarray (n,) int64), ``target_names`` (the folder names), ``filenames`` and
        ``DESCR``.
    (data, target) : tuple if ``return_X_y`` is True
        The ``data`` and ``target`` arrays of the Bunch.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from PIL import Image
    >>> from skintrinsic.datasets import load_image_folder
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for label in ("cat", "dog"):
    ...         (Path(tmp) / label).mkdir()
    ...         for i in range(3):
    ...             pixels = np.full((8, 8), 40 * i, dtype=np.uint8)
    ...             Image.fromarray(pixels).save(Path(tmp) / label / f"{i}.png")
    ...     data = load_image_folder(tmp)
    >>> data.data.shape, data.target.tolist(), data.target_names.tolist()
    ((6, 8, 8), [0, 0, 0, 1, 1, 1], ['cat', 'dog'])
    """
    _check_option(color_mode, "color_mode", ("auto", "grayscale", "rgb"))
    if size is not None:
        size = _image_size(size)
    files, target, target_names = _image_files(path)
    if color_mode == "auto":
        gray = all(_image_mode(f) in _GRAY_MODES for f in files)
    else:
        gray = color_mode == "grayscale"
    if verbose:
        from .._compute import progress

        files_iter = progress(files, verbose=verbose, desc="reading images")
    else:
        files_iter = files
    if size is not None:
        check_memory(len(files) * (1 if gray else 3) * size[0] * size[1],
                     what=f"{len(files)} images resized to {size[0]}x{size[1]}",
                     fix="Pass a smaller size.")
    arrays = [_read_image(f, gray, size) for f in files_iter]
    _check_one_depth(files, arrays)
    shapes = {}
    for f, a in zip(files, arrays):
        shapes.setdefault(a.shape[-2:], f)
    if len(shapes) > 1:
        examples = "; ".join(f"{f} is {h}x{w}" for (h, w), f in list(shapes.items())[:3])
        raise ValueError(f"the images do not share one size ({examples}); pass size=(height, "
                         "width) to resize them all.")
    data = np.stack(arrays)
    bunch = Bunch(data=data, target=target, target_names=target_names,
                  filenames=np.array([str(f) for f in files]),
                  DESCR=f"Images of {len(target_names)} classes read from {Path(path)}.")
    return _finish(bunch, return_X_y)


# --------------------------------------------------------------------------------- binary task

def binary_task(X, y, classes=None, n_per_class=None, random_state=None, *,
                return_indices=False):
    """Draw the paper's balanced two-class task from a labelled dataset.

    Konz & Mazurowski train every network on a binary task: two random classes of a natural
    dataset, or the presence of a finding in a medical one, with as many images of each.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Images (any trailing shape).
    y : array-like of shape (n_samples,)
        Labels.
    classes : pair of labels, default=None
        The two classes, in the order that maps them to 0 and 1.  ``None`` draws two
        distinct classes at random (with ``random_state``), as the paper does for natural
        datasets; they are then labelled in sorted order.
    n_per_class : int, default=None
        Images drawn (without replacement) from each class; ``None`` takes as many as the
        smaller class holds.
    random_state : int, RandomState instance or None, default=None
        Seeds the choice of classes, of images and their order.
    return_indices : bool, default=False
        Also return the row indices into ``X`` of the images drawn.

    Returns
    -------
    X_task : ndarray of shape (2 * n_per_class, ...)
        The images, shuffled (a copy; ``X`` is not modified).
    y_task : ndarray of shape (2 * n_per_class,)
        0 for ``classes[0]``, 1 for ``classes[1]``; exactly ``n_per_class`` of each.
    indices : ndarray of shape (2 * n_per_class,)
        Only if ``return_indices``: ``X_task = X[indices]``.

    Examples
    --------
    >>> import numpy as np
    >>> from skintrinsic.datasets import binary_task
    >>> X = np.arange(20).reshape(10, 2)
    >>> y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    >>> Xb, yb = binary_task(X, y, classes=(2, 0), n_per_class=3, random_state=0)
    >>> Xb.shape, np.bincount(yb).tolist()
    ((6, 2), [3, 3])
    """
    X = as_array(X, "X")
    y = as_array(y, "y")
    if y.ndim != 1:
        raise ValueError(f"y must be one label per sample (1-D); got shape {y.shape}. For a "
                         "multi-label dataset pick one column, e.g. y[:, j].")
    if X.ndim == 0 or len(X) != len(y):
        raise ValueError(f"X and y must have one row per sample; got {len(X) if X.ndim else 0} "
                         f"rows of X and {len(y)} labels.")
    rng = check_random_state(random_state)
    present, counts = unique_labels(y, return_counts=True)
    if classes is None:
        if len(present) < 2:
            raise ValueError(f"y holds a single class ({present.tolist()}); a binary task needs "
                             "two classes.")
        classes = tuple(np.sort(rng.choice(present, 2, replace=False)))
    else:
        classes = tuple(classes)
        if len(classes) != 2 or classes[0] == classes[1]:
            raise ValueError(f"classes must be two distinct labels; got {classes}.")
        missing = [c for c in classes if c not in present]
        if missing:
            raise ValueError(f"class(es) {missing} not found in y; the labels present are "
                             f"{present.tolist()}.")
    available = {c: int(counts[np.flatnonzero(present == c)[0]]) for c in classes}
    if n_per_class is None:
        n_per_class = min(available.values())
    elif not isinstance(n_per_class, numbers.Integral) or isinstance(n_per_class, bool) \
            or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive integer or None; got {n_per_class!r}.")
    short = {c: n for c, n in available.items() if n < n_per_class}
    if short:
        raise ValueError(
            "not enough samples for n_per_class=" + str(n_per_class) + ": "
            + ", ".join(f"class {c!r} has {n}" for c, n in short.items())
            + f". Pass n_per_class <= {min(available.values())}, or None for the largest "
            "balanced task.")
    # the one stratified-subset helper, with as many images of each class
    rows = np.flatnonzero((y == classes[0]) | (y == classes[1]))
    indices = rows[stratified_subset(y[rows], 2 * n_per_class, rng, allocation="balanced")]
    indices = indices[rng.permutation(len(indices))]
    labels = (y[indices] == classes[1]).astype(np.int64)
    if return_indices:
        return X[indices], labels, indices
    return X[indices], labels
