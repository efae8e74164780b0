"""Reading the command's sources: a built-in name or a path in, images and labels of a task out.

A source is a built-in name (``digits``, ``mnist``, ``cifar10``, ``svhn``, a MedMNIST
name), an ``.npz`` file (MedMNIST layout or plain ``X`` and ``y``), an IDX images file
(labels beside it or given) or a folder with one sub-folder of images per class.
:func:`load_dataset` reads it, draws the task (a balanced binary task, or every class,
at most ``n_samples`` images) and applies the reference preprocessing.

Every problem with the user's input is a :class:`SourceError`, a ValueError whose
one-line message names the problem and the fix.
"""

import dataclasses
import zipfile
from pathlib import Path

import numpy as np

from .._validation import unique_labels
from ._fetch import ChecksumError, data_home_path
from ._loaders import _open_idx, _read_idx

#: Names understood without a path.
SKLEARN_BUILTINS = ("digits",)
MNIST_BUILTINS = ("mnist",)
NATURAL_BUILTINS = ("cifar10", "svhn")  # RGB natural images, as in Konz & Mazurowski
MEDMNIST_SUFFIX = "mnist"  # pneumoniamnist, breastmnist, ... (MedMNIST names end in "mnist")


class SourceError(ValueError):
    """A problem with the user's input, reported in one line without a traceback."""


@dataclasses.dataclass
class Dataset:
    """Images ``X`` (n, H, W) or (n, C, H, W), labels ``y`` and where they came from."""

    name: str
    X: np.ndarray
    y: np.ndarray
    source: str
    description: str = ""
    preprocessing: str = "none"
    rows: np.ndarray = None  # row of the source behind each image, to name images in notes
    classes: tuple = None  # the task's classes in the order given (else sorted)


def _one_line(message):
    return " ".join(str(message).split())


_FORMATS_HINT = ("pass a built-in name (digits, mnist, pneumoniamnist or another MedMNIST "
                 "name), an .npz file, an IDX images file or a folder with one sub-folder of "
                 "images per class")
_IDX_IMAGES, _IDX_LABELS = 2051, 2049


def load_dataset(source, settings, *, labels=None, data_home=None):
    """Read ``source``, draw the task and preprocess: a :class:`Dataset` ready to measure.

    ``settings`` provides ``split``, ``download``, ``size``, ``task``, ``classes``,
    ``n_samples`` and ``random_state`` (the command's ``Settings``).
    """
    name, X, y, origin, description = _read_source(source, settings.split, labels, data_home,
                                                   settings.download, size=settings.size)
    X, y, rows, classes = _draw_task(X, y, settings, name=name, aliases=_class_aliases(name))
    X, preprocessing = _preprocess(X, settings)
    return Dataset(name=name, X=X, y=y, source=origin, description=description,
                   preprocessing=preprocessing, rows=rows, classes=classes)


def _class_aliases(name):
    """Label names of a built-in dataset, in the order of their numeric labels (or None)."""
    from ._loaders import _MEDMNIST_INFO
    from ._natural import CIFAR10_CLASSES

    if name == "cifar10":
        return CIFAR10_CLASSES
    info = _MEDMNIST_INFO.get(name)
    return None if info is None else info[0]


def check_distinct_names(datasets):
    """Datasets of a comparison must be told apart in tables and legends."""
    seen = {}
    for data in datasets:
        seen[data.name] = seen.get(data.name, 0) + 1
    repeated = [n for n, c in seen.items() if c > 1]
    if repeated:
        raise SourceError(f"the datasets {', '.join(repeated)} appear more than once; compare "
                          "distinct datasets (or files with distinct names)")


def _read_source(source, split, labels, data_home, download=False, *, size=None):
    """(name, X, y, origin, description) of a built-in name or a path, untouched."""
    from ._loaders import load_image_folder

    path = Path(source).expanduser()
    key = str(source).lower()
    if not path.exists() and key in SKLEARN_BUILTINS:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return key, bunch.images, bunch.target, "sklearn.datasets.load_digits", \
            "scikit-learn's 8x8 handwritten digits (UCI)"
    if not path.exists() and (key in MNIST_BUILTINS + NATURAL_BUILTINS
                              or (key.endswith(MEDMNIST_SUFFIX) and "/" not in key)):
        return _read_builtin(key, split, data_home, download)
    if not path.exists():
        raise SourceError(f"{source}: no such file or folder, and not a built-in dataset; "
                          + _FORMATS_HINT)
    if labels is not None and not Path(labels).expanduser().is_file():
        raise SourceError(f"--labels {labels}: no such file")
    name = path.name.split(".")[0] or str(path)
    if path.is_dir():
        if labels is not None:
            raise SourceError("--labels is for .npz and IDX data; an image folder is labelled "
                              "by its class sub-folders")
        if not any(path.iterdir()):
            raise SourceError(f"{source} is an empty folder; {_FORMATS_HINT}")
        try:
            # resized while read: images of several sizes cannot be stacked first
            bunch = load_image_folder(path, size=size)
        except ValueError as exc:
            if "do not share one size" not in str(exc):
                raise
            raise SourceError(f"{source}: the images do not share one size; pass --size S to "
                              "resize them all to S x S") from None
        y = bunch.target_names[bunch.target]
        return name, bunch.data, y, f"image folder {path}", bunch.DESCR
    if path.suffix == ".npz":
        return (name, *_read_npz(path, split, labels))
    if _idx_magic(path) == _IDX_IMAGES:
        X = _read_idx(path, _IDX_IMAGES, 3)
        label_path = Path(labels).expanduser() if labels else _idx_labels_beside(path)
        y = _read_labels(label_path, len(X))
        name = name.replace("-images-idx3-ubyte", "").replace("-idx3-ubyte", "")
        return name, X, y, f"IDX files {path.name}, {label_path.name}", ""
    raise SourceError(f"{source}: unrecognized format (not an .npz, IDX images file or image "
                      f"folder); {_FORMATS_HINT}")


def _read_builtin(key, split, data_home, download):
    """MNIST or a MedMNIST dataset from the data folder (downloaded only with --download)."""
    from .. import datasets

    try:
        if key in MNIST_BUILTINS:
            subset = split or "test"  # the loader's default, and the copy most folders hold
            if subset == "val":
                raise SourceError("mnist has no val split; use --split train or test")
            bunch = datasets.load_mnist(subset, data_home=data_home,
                                        download_if_missing=download)
            return key, bunch.data, bunch.target, f"MNIST {subset} set", bunch.DESCR
        if key in NATURAL_BUILTINS:
            subset = split or "test"
            if subset == "val":
                raise SourceError(f"{key} has no val split; use --split train or test")
            loader = datasets.load_cifar10 if key == "cifar10" else datasets.load_svhn
            bunch = loader(subset, data_home=data_home, download_if_missing=download)
            y = np.asarray(bunch.target_names)[bunch.target] if key == "cifar10" else \
                bunch.target
            return key, bunch.data, y, f"{key} {subset} set", bunch.DESCR
        split = split or "train"
        bunch = datasets.load_medmnist(key, split=split, data_home=data_home,
                                       download_if_missing=download)
        y = bunch.target
        if bunch.target_names is not None and y.ndim == 1:
            y = np.asarray(bunch.target_names)[y]  # "normal" / "pneumonia" read better than 0 / 1
        return key, bunch.data, y, f"{key} ({split} split)", bunch.DESCR
    except ChecksumError as exc:
        raise SourceError(
            f"{key}: {exc.problem} Pass --download to replace it with the official file, or "
            f"give the file's path instead of the name to read it as it is, without a "
            f"checksum") from None
    except FileNotFoundError:
        where = data_home_path(data_home)
        raise SourceError(
            f"{key}: its data files are not in {where}; point --data-home (or "
            f"$SKINTRINSIC_DATA_HOME) at the folder that holds them, run `skintrinsic fetch "
            f"{key}` to download them there, or pass --download"
        ) from None


def _read_npz(path, split, labels):
    """(X, y, origin, description) of an .npz: the MedMNIST layout, or plain X and y arrays."""
    split = split or "train"
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = list(npz.files)
            if f"{split}_images" in keys:
                from ._loaders import load_medmnist

                bunch = load_medmnist(path, split=split)
                return bunch.data, bunch.target, f"{path.name} ({split} split)", bunch.DESCR
            x_key = next((k for k in ("X", "x", "images", "data") if k in keys), None)
            y_key = next((k for k in ("y", "labels", "target") if k in keys), None)
            if x_key is None:
                raise SourceError(
                    f"{path} holds {', '.join(keys) or 'no arrays'}; an .npz must hold either "
                    "the MedMNIST arrays (train_images, train_labels, ...) or X and y")
            X = npz[x_key]
            if labels is None and y_key is None:
                raise SourceError(f"{path} holds images ({x_key}) but no labels (y); add them "
                                  "or pass --labels FILE")
            y = _read_labels(Path(labels).expanduser(), len(X)) if labels else npz[y_key]
    except SourceError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise SourceError(f"{path}: cannot read it as an .npz file ({_one_line(exc)})") from None
    y = np.asarray(y)
    return X, (y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y), path.name, ""


def _idx_magic(path):
    try:
        with _open_idx(path) as f:
            head = f.read(4)
    except OSError:
        return None
    return int.from_bytes(head, "big") if len(head) == 4 else None


def _idx_labels_beside(path):
    """The labels file of an IDX images file, by the official naming (images -> labels)."""
    candidates = [path.with_name(path.name.replace("images-idx3", "labels-idx1")),
                  path.with_name(path.name.replace("images", "labels"))]
    for candidate in candidates:
        if candidate != path and candidate.is_file():
            return candidate
    raise SourceError(f"no labels file found beside {path} (looked for {candidates[0].name}); "
                      "pass it with --labels FILE")


def _read_labels(path, n):
    """Labels from an IDX labels file, a .npy file, or text with one label per line."""
    if _idx_magic(path) == _IDX_LABELS:
        y = _read_idx(path, _IDX_LABELS, 1)
    elif path.suffix == ".npy":
        try:
            y = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise SourceError(f"--labels {path}: cannot read it as a .npy file of labels "
                              f"({_one_line(exc)})") from None
    else:
        try:
            y = np.array([line.strip() for line in path.read_text().splitlines() if line.strip()])
        except UnicodeDecodeError:
            raise SourceError(f"--labels {path}: not an IDX labels file, a .npy file or text "
                              "with one label per line") from None
        if y.size and all(v.lstrip("-").isdigit() for v in y):
            y = y.astype(np.int64)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n:
        raise SourceError(f"{path} holds {y.shape[0] if y.ndim else 0} labels for {n} images; "
                          "pass one label per image")
    return y


def _draw_task(X, y, settings, *, name, aliases=None):
    """The balanced binary task (or all classes), at most ``settings.n_samples`` images.

    Returns the images, their labels, their rows in ``X`` and the classes in the order the
    user gave them (``None``: sorted).  ``aliases`` are the label names of a built-in
    dataset in the order of its numeric labels, so that ``--classes 0 1`` also works there.
    """
    from ._subsets import stratified_subset
    from ._loaders import binary_task

    X, y = np.asarray(X), np.asarray(y)
    if y.ndim != 1:
        raise SourceError(f"{name}: labels of shape {y.shape}; one label per image is needed "
                          "(multi-label datasets are not supported by the command)")
    if X.ndim < 2:
        raise SourceError(f"{name}: the images have shape {X.shape}, one value each; pass "
                          "images (n, H, W) or (n, C, H, W), or flat rows (n, D)")
    if len(X) != len(y):
        raise SourceError(f"{name}: {len(X)} images but {len(y)} labels; pass one label per "
                          "image")
    if X.dtype.kind == "c":
        raise SourceError(f"{name}: the images hold complex values; pass real pixel values")
    try:
        present, counts = unique_labels(y, return_counts=True)
    except ValueError as exc:
        raise SourceError(f"{name}: {exc}") from None
    if len(present) < 2:
        raise SourceError(f"{name}: a single class ({present[0] if len(present) else 'none'}); "
                          "K_F and the binary task need images of at least two classes")
    rng = np.random.RandomState(settings.random_state)
    if settings.task == "all":
        if settings.classes:
            raise SourceError("--classes picks the two classes of --task binary; drop it or "
                              "use --task binary")
        if settings.n_samples < len(present):
            raise SourceError(f"{name}: --n-samples {settings.n_samples} is fewer than its "
                              f"{len(present)} classes; pass at least one image per class")
        keep = stratified_subset(y, min(settings.n_samples, len(y)), random_state=rng)
        return X[keep], y[keep], keep, None
    classes = None
    if settings.classes:
        classes = tuple(_match_class(c, present, name, aliases) for c in settings.classes)
        if classes[0] == classes[1]:
            raise SourceError(f"{name}: --classes names the class {classes[0]} twice; pass two "
                              "distinct classes")
    if classes is None and len(present) == 2:
        classes = tuple(present.tolist())  # e.g. "normal" vs "finding": keep their order
    if classes is None:
        classes = tuple(np.sort(rng.choice(present, 2, replace=False)).tolist())
    smaller = min(int(counts[present == c][0]) for c in classes)
    n_per_class = max(1, min(smaller, settings.n_samples // 2))
    X_task, _, idx = binary_task(X, y, classes=classes, n_per_class=n_per_class,
                                 random_state=rng, return_indices=True)
    # keep the original class names as labels: they are what the report should show
    return X_task, y[idx], idx, classes


def _match_class(text, present, name, aliases=None):
    """A --classes value (always text) as one of the labels present, or its numeric alias."""
    for label in present:
        if str(label) == str(text):
            return label
    if aliases is not None and str(text).isdigit() and int(text) < len(aliases):
        alias = aliases[int(text)]
        if alias in present:
            return present[present == alias][0]
    numbered = "" if aliases is None else " (or their numbers " + ", ".join(
        f"{i} = {a}" for i, a in enumerate(aliases)) + ")"
    raise SourceError(f"{name}: no class {text!r}; the classes are "
                      f"{', '.join(map(str, present.tolist()))}{numbered}")


def _preprocess(X, settings):
    """The reference preprocessing: each image scaled to a maximum of 255, optionally resized."""
    from ._preprocessing import ReferencePreprocessor

    pre = ReferencePreprocessor(size=settings.size)
    X = pre.fit_transform(X)
    size = "native resolution" if settings.size is None else f"resized to {settings.size}x" \
        f"{settings.size}"
    return X, f"reference preprocessing (max 255, {size})"
