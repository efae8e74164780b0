"""The measuring behind the ``skintrinsic`` command: datasets in, a tidy table and a report out.

Data flows one way::

    source (name or path) -> images and labels -> task (balanced binary, subsample)
        -> preprocessing -> estimators -> tidy frames -> report.json / .csv / .png / .html

Every user-facing problem (bad path, unknown format, a single class...) is a
:class:`ReportError` or a ValueError/TypeError from an estimator, with a one-line
message; the command prints it without a traceback.
"""

import base64
import dataclasses
import datetime
import html
import json
import math
import os
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from ._validation import unique_labels
from .datasets._fetch import ChecksumError, data_home_path
from .datasets._loaders import _open_idx, _read_idx

#: Names the command understands without a path.
SKLEARN_BUILTINS = ("digits",)
MNIST_BUILTINS = ("mnist",)
NATURAL_BUILTINS = ("cifar10", "svhn")  # RGB natural images, as in Konz & Mazurowski
MEDMNIST_SUFFIX = "mnist"  # pneumoniamnist, breastmnist, ... (MedMNIST names end in "mnist")

#: The default job of a bare ``skintrinsic``: small enough for a few seconds on a laptop.
DEFAULT_SOURCE = "digits"

DEFAULT_EPSILONS = (0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255)


class ReportError(ValueError):
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


@dataclasses.dataclass
class Settings:
    """Everything the measurement depends on, recorded in report.json."""

    k: int = 20
    n_bootstrap: int = 200
    confidence_level: float = 0.95
    n_samples: int = 2000
    task: str = "binary"
    classes: tuple = ()
    size: int = None
    split: str = None  # None: the dataset's default (MNIST: test; MedMNIST: train)
    download: bool = False
    train: bool = False
    arch: str = "small_cnn"
    epochs: int = 5
    test_size: float = 0.3
    epsilons: tuple = DEFAULT_EPSILONS
    device: str = "cpu"
    random_state: int = 0
    verbose: int = 0  # progress bars (with a time estimate) inside each long step


@dataclasses.dataclass
class Report:
    """The result of profiling one or more datasets."""

    settings: Settings
    datasets: pd.DataFrame  # one row per dataset: size, shape, classes, preprocessing
    measures: pd.DataFrame  # tidy: one row per (dataset, quantity, method)
    robustness: pd.DataFrame = None  # one row per (dataset, epsilon), with --train
    local_dimensions: dict = dataclasses.field(default_factory=dict)  # dataset -> array
    samples: dict = dataclasses.field(default_factory=dict)  # dataset -> (images, labels)
    notes: list = dataclasses.field(default_factory=list)


# --------------------------------------------------------------------------- loading

_FORMATS_HINT = ("pass a built-in name (digits, mnist, pneumoniamnist or another MedMNIST "
                 "name), an .npz file, an IDX images file or a folder with one sub-folder of "
                 "images per class")
_IDX_IMAGES, _IDX_LABELS = 2051, 2049


def load_dataset(source, settings, *, labels=None, data_home=None):
    """Read ``source``, draw the task and preprocess: a :class:`Dataset` ready to measure."""
    name, X, y, origin, description = _read_source(source, settings.split, labels, data_home,
                                                   settings.download, size=settings.size)
    X, y, rows, classes = _draw_task(X, y, settings, name=name, aliases=_class_aliases(name))
    X, preprocessing = _preprocess(X, settings)
    return Dataset(name=name, X=X, y=y, source=origin, description=description,
                   preprocessing=preprocessing, rows=rows, classes=classes)


def _class_aliases(name):
    """Label names of a built-in dataset, in the order of their numeric labels (or None)."""
    from .datasets._loaders import _MEDMNIST_INFO
    from .datasets._natural import CIFAR10_CLASSES

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
        raise ReportError(f"the datasets {', '.join(repeated)} appear more than once; compare "
                          "distinct datasets (or files with distinct names)")


def _read_source(source, split, labels, data_home, download=False, *, size=None):
    """(name, X, y, origin, description) of a built-in name or a path, untouched."""
    from .datasets import load_image_folder

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
        raise ReportError(f"{source}: no such file or folder, and not a built-in dataset; "
                          + _FORMATS_HINT)
    if labels is not None and not Path(labels).expanduser().is_file():
        raise ReportError(f"--labels {labels}: no such file")
    name = path.name.split(".")[0] or str(path)
    if path.is_dir():
        if labels is not None:
            raise ReportError("--labels is for .npz and IDX data; an image folder is labelled "
                              "by its class sub-folders")
        if not any(path.iterdir()):
            raise ReportError(f"{source} is an empty folder; {_FORMATS_HINT}")
        try:
            # resized while read: images of several sizes cannot be stacked first
            bunch = load_image_folder(path, size=size)
        except ValueError as exc:
            if "do not share one size" not in str(exc):
                raise
            raise ReportError(f"{source}: the images do not share one size; pass --size S to "
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
    raise ReportError(f"{source}: unrecognized format (not an .npz, IDX images file or image "
                      f"folder); {_FORMATS_HINT}")


def _read_builtin(key, split, data_home, download):
    """MNIST or a MedMNIST dataset from the data folder (downloaded only with --download)."""
    from . import datasets

    try:
        if key in MNIST_BUILTINS:
            subset = split or "test"  # the loader's default, and the copy most folders hold
            if subset == "val":
                raise ReportError("mnist has no val split; use --split train or test")
            bunch = datasets.load_mnist(subset, data_home=data_home,
                                        download_if_missing=download)
            return key, bunch.data, bunch.target, f"MNIST {subset} set", bunch.DESCR
        if key in NATURAL_BUILTINS:
            subset = split or "test"
            if subset == "val":
                raise ReportError(f"{key} has no val split; use --split train or test")
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
        raise ReportError(
            f"{key}: {exc.problem} Pass --download to replace it with the official file, or "
            f"give the file's path instead of the name to read it as it is, without a "
            f"checksum") from None
    except FileNotFoundError:
        where = data_home_path(data_home)
        raise ReportError(
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
                from .datasets import load_medmnist

                bunch = load_medmnist(path, split=split)
                return bunch.data, bunch.target, f"{path.name} ({split} split)", bunch.DESCR
            x_key = next((k for k in ("X", "x", "images", "data") if k in keys), None)
            y_key = next((k for k in ("y", "labels", "target") if k in keys), None)
            if x_key is None:
                raise ReportError(
                    f"{path} holds {', '.join(keys) or 'no arrays'}; an .npz must hold either "
                    "the MedMNIST arrays (train_images, train_labels, ...) or X and y")
            X = npz[x_key]
            if labels is None and y_key is None:
                raise ReportError(f"{path} holds images ({x_key}) but no labels (y); add them "
                                  "or pass --labels FILE")
            y = _read_labels(Path(labels).expanduser(), len(X)) if labels else npz[y_key]
    except ReportError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ReportError(f"{path}: cannot read it as an .npz file ({_one_line(exc)})") from None
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
    raise ReportError(f"no labels file found beside {path} (looked for {candidates[0].name}); "
                      "pass it with --labels FILE")


def _read_labels(path, n):
    """Labels from an IDX labels file, a .npy file, or text with one label per line."""
    if _idx_magic(path) == _IDX_LABELS:
        y = _read_idx(path, _IDX_LABELS, 1)
    elif path.suffix == ".npy":
        try:
            y = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise ReportError(f"--labels {path}: cannot read it as a .npy file of labels "
                              f"({_one_line(exc)})") from None
    else:
        try:
            y = np.array([line.strip() for line in path.read_text().splitlines() if line.strip()])
        except UnicodeDecodeError:
            raise ReportError(f"--labels {path}: not an IDX labels file, a .npy file or text "
                              "with one label per line") from None
        if y.size and all(v.lstrip("-").isdigit() for v in y):
            y = y.astype(np.int64)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n:
        raise ReportError(f"{path} holds {y.shape[0] if y.ndim else 0} labels for {n} images; "
                          "pass one label per image")
    return y


def _draw_task(X, y, settings, *, name, aliases=None):
    """The balanced binary task (or all classes), at most ``settings.n_samples`` images.

    Returns the images, their labels, their rows in ``X`` and the classes in the order the
    user gave them (``None``: sorted).  ``aliases`` are the label names of a built-in
    dataset in the order of its numeric labels, so that ``--classes 0 1`` also works there.
    """
    from .datasets import binary_task

    X, y = np.asarray(X), np.asarray(y)
    if y.ndim != 1:
        raise ReportError(f"{name}: labels of shape {y.shape}; one label per image is needed "
                          "(multi-label datasets are not supported by the command)")
    if X.ndim < 2:
        raise ReportError(f"{name}: the images have shape {X.shape}, one value each; pass "
                          "images (n, H, W) or (n, C, H, W), or flat rows (n, D)")
    if len(X) != len(y):
        raise ReportError(f"{name}: {len(X)} images but {len(y)} labels; pass one label per "
                          "image")
    if X.dtype.kind == "c":
        raise ReportError(f"{name}: the images hold complex values; pass real pixel values")
    try:
        present, counts = unique_labels(y, return_counts=True)
    except ValueError as exc:
        raise ReportError(f"{name}: {exc}") from None
    if len(present) < 2:
        raise ReportError(f"{name}: a single class ({present[0] if len(present) else 'none'}); "
                          "K_F and the binary task need images of at least two classes")
    rng = np.random.RandomState(settings.random_state)
    if settings.task == "all":
        if settings.classes:
            raise ReportError("--classes picks the two classes of --task binary; drop it or "
                              "use --task binary")
        keep = rng.permutation(len(y))[:settings.n_samples]
        return X[keep], y[keep], keep, None
    classes = None
    if settings.classes:
        classes = tuple(_match_class(c, present, name, aliases) for c in settings.classes)
        if classes[0] == classes[1]:
            raise ReportError(f"{name}: --classes names the class {classes[0]} twice; pass two "
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
    raise ReportError(f"{name}: no class {text!r}; the classes are "
                      f"{', '.join(map(str, present.tolist()))}{numbered}")


def _preprocess(X, settings):
    """The reference preprocessing: each image scaled to a maximum of 255, optionally resized."""
    from .datasets import ReferencePreprocessor

    pre = ReferencePreprocessor(size=settings.size)
    X = pre.fit_transform(X)
    size = "native resolution" if settings.size is None else f"resized to {settings.size}x" \
        f"{settings.size}"
    return X, f"reference preprocessing (max 255, {size})"


# --------------------------------------------------------------------------- measuring

def _one_line(message):
    return " ".join(str(message).split())


def _fit_quiet(estimator, *args, notes, dataset, ignore=()):
    """Fit, turning the estimator's warnings into report notes (except those in ``ignore``)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(*args)
    for w in caught:
        message = _one_line(w.message)
        note = f"{dataset}: {message}"
        if not message.startswith(tuple(ignore)) and note not in notes:
            notes.append(note)
    return estimator


def _row(dataset, quantity, method, value, ci=(np.nan, np.nan), **extra):
    return {"dataset": dataset, "quantity": quantity, "method": method, "value": float(value),
            "ci_low": float(ci[0]), "ci_high": float(ci[1]), **extra}


def _check_duplicates(data, notes):
    """Note exact duplicate images; return their :class:`DuplicateInfo` and whether two of
    them carry different labels.

    The estimators find duplicates themselves, but only in the rows they are given;
    here they are named by their rows in the user's data.
    """
    from ._neighbors import find_duplicates

    info = find_duplicates(np.asarray(data.X).reshape(len(data.X), -1))
    if not info.n_duplicates:
        return info, False
    rows = np.arange(len(data.X)) if data.rows is None else np.asarray(data.rows)
    copy = np.flatnonzero(info.groups != np.arange(len(info.groups)))
    def pair(i):
        a, b = sorted((info.groups[i], i), key=lambda r: rows[r])
        return f"rows {rows[a]} and {rows[b]} of {data.source}", data.y[a], data.y[b]

    where, _, _ = pair(copy[0])
    notes.append(f"{data.name}: {info.n_duplicates} exact duplicate image(s), e.g. {where}; "
                 "d_data counts each distinct image once")
    conflict = copy[data.y[copy] != data.y[info.groups[copy]]]
    if conflict.size:
        where, label_a, label_b = pair(conflict[0])
        notes.append(f"{data.name}: K_F is infinite: {where} are identical images labelled "
                     f"{label_a} and {label_b} ({conflict.size} such pair(s)); remove or "
                     "relabel them")
    return info, bool(conflict.size)


def measure(data, settings, *, notes, step=lambda name: None):
    """Measure one prepared :class:`Dataset`; return (rows, local dimensions, robustness frame).

    ``step(name)`` is called before each long step, for the progress bar.
    """
    from ._neighbors import kneighbors_graph, take_rows
    from .dimension import IntrinsicDimension
    from .sharpness import LabelSharpness

    info, conflicting = _check_duplicates(data, notes)
    common = dict(n_bootstrap=settings.n_bootstrap, confidence_level=settings.confidence_level,
                  device=settings.device, random_state=settings.random_state,
                  neighbors="precomputed", verbose=settings.verbose)
    quiet = dict(notes=notes, dataset=data.name, ignore=("Dropped",))  # noted just above
    rows = []
    step("d_data (MLE)")
    # one exact neighbour pass over the distinct images feeds both estimators
    distinct = take_rows(np.asarray(data.X).reshape(len(data.X), -1), info.keep)
    if distinct.shape[0] <= max(settings.k, 2):
        raise ValueError(
            f"{data.name}: {distinct.shape[0]} distinct images, but d_data with k={settings.k} "
            f"needs at least {settings.k + 1}; pass more images or a smaller --k."
        )
    graph = kneighbors_graph(distinct, max(settings.k, 2), device=settings.device,
                             verbose=settings.verbose)
    mle = _fit_quiet(IntrinsicDimension("mle", k=settings.k, **common), graph, **quiet)
    rows.append(_row(data.name, "d_data", f"MLE (k={settings.k})", mle.dimension_,
                     mle.confidence_interval_))
    step("d_data (TwoNN)")
    twonn = _fit_quiet(IntrinsicDimension("twonn", **common), graph, **quiet)
    rows.append(_row(data.name, "d_data", "TwoNN", twonn.dimension_, twonn.confidence_interval_))
    step("K_F")
    if conflicting:
        rows.append(_row(data.name, "K_F", "exact, all pairs", np.inf))
    else:
        kf = _fit_quiet(LabelSharpness(device=settings.device, verbose=settings.verbose),
                        data.X, data.y, **quiet)
        rows.append(_row(data.name, "K_F", "exact, all pairs", kf.sharpness_))
    curve = None
    if settings.train:
        train_rows, curve = _train_and_probe(data, settings, notes=notes, step=step)
        rows.extend(train_rows)
    return rows, mle.local_dimensions_, curve


def _train_and_probe(data, settings, *, notes, step):
    """Train a small network: d_repr of its penultimate layer, test loss, robustness curve."""
    from sklearn.model_selection import train_test_split

    from .dimension import IntrinsicDimension
    from .nets import ImageClassifier
    from .representation import RepresentationDimension
    from .robustness import robustness_curve

    X = _as_nchw(data.X).astype(np.float32)
    # any label type, as 0..C-1 in the order the user gave the classes
    position = {c: i for i, c in enumerate(_class_order(data).tolist())}
    codes = np.array([position[c] for c in data.y.tolist()], dtype=np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, codes, test_size=settings.test_size, stratify=codes,
        random_state=settings.random_state)
    step("training")
    progress = {}
    if settings.verbose:
        from skorch.callbacks import ProgressBar

        # one bar per epoch, over its batches of images, with the time left
        batch_size = ImageClassifier().batch_size
        progress["callbacks"] = [("progress", ProgressBar(
            batches_per_epoch=-(-len(y_train) // batch_size)))]
    clf = ImageClassifier(arch=settings.arch, max_epochs=settings.epochs,
                          random_state=settings.random_state, device=settings.device, **progress)
    _fit_quiet(clf, X_train, y_train, notes=notes, dataset=data.name)
    n_train = len(y_train)
    rows = [_row(data.name, "test_loss", f"{settings.arch}, N={n_train}",
                 clf.loss_score(X_test, y_test)),
            _row(data.name, "test_accuracy", f"{settings.arch}, N={n_train}",
                 clf.score(X_test, y_test))]
    step("d_repr")
    twonn = IntrinsicDimension("twonn", n_bootstrap=settings.n_bootstrap,
                               confidence_level=settings.confidence_level,
                               device=settings.device, random_state=settings.random_state,
                               verbose=settings.verbose)
    rep = _fit_quiet(RepresentationDimension(clf, estimator=twonn, prefit=True), X_train,
                     y_train, notes=notes, dataset=data.name)
    layer = rep.profile_.set_index("layer").loc[rep.layer_]
    rows.insert(0, _row(data.name, "d_repr", f"TwoNN ({rep.layer_})", rep.dimension_,
                        (layer["ci_low"], layer["ci_high"])))
    step("robustness")
    # clip to the preprocessed pixel range, so that epsilon is a fraction of [0, 255]
    curve = robustness_curve(clf, X_test, y_test, list(settings.epsilons), attack="fgsm",
                             bounds=(0.0, 255.0), random_state=settings.random_state,
                             verbose=settings.verbose)
    curve.insert(0, "dataset", data.name)
    at_reference = curve[np.isclose(curve["epsilon"], 2 / 255)]
    if len(at_reference):
        rows.append(_row(data.name, "delta_loss", "FGSM, eps=2/255",
                         at_reference["delta_loss"].iloc[0]))
    return rows, curve


def _as_nchw(X):
    """Images as (n, C, H, W), the layout the networks take."""
    X = np.asarray(X)
    if X.ndim == 3:
        return X[:, None]
    if X.ndim == 4:
        return X
    raise ReportError(
        f"training a network needs images (n, H, W) or (n, C, H, W), got shape {X.shape}; "
        "drop --train to measure flat data."
    )


def _sample_grid(data, per_class=6):
    """A few images of each class, for the report's thumbnail figure."""
    X = np.asarray(data.X)
    if X.ndim == 4 and X.shape[1] in (1, 3):
        X = X[:, 0] if X.shape[1] == 1 else X.transpose(0, 2, 3, 1)
    if X.ndim not in (3, 4):
        return None
    picks = []
    for c in _class_order(data)[:4]:
        picks.extend(np.flatnonzero(data.y == c)[:per_class])
    return X[picks], np.asarray(data.y)[picks]


def _class_order(data):
    """The classes of a dataset in the order given with --classes, else sorted."""
    if data.classes is not None:
        return np.asarray(data.classes)
    return np.unique(data.y)


def dataset_row(data):
    X = np.asarray(data.X)
    labels = _class_order(data)
    counts = [int(np.sum(data.y == c)) for c in labels]
    return {
        "dataset": data.name,
        "source": data.source,
        "n_samples": int(X.shape[0]),
        "image_shape": "x".join(str(s) for s in X.shape[1:]),
        "n_features": int(np.prod(X.shape[1:])),
        "classes": ", ".join(f"{c} ({n})" for c, n in zip(labels, counts)),
        "preprocessing": data.preprocessing,
        "description": data.description,
    }


def build_report(datasets, settings, *, stage=None):
    """Measure each prepared :class:`Dataset` and return a :class:`Report`.

    ``stage(description)`` is called as each long step begins (for a progress bar).
    """
    notes = []
    rows, curves, local, samples, meta = [], [], {}, {}, []

    for data in datasets:
        def step(name, _data=data):
            if stage is not None:
                stage(f"{_data.name}: {name}")

        r, local[data.name], curve = measure(data, settings, notes=notes, step=step)
        rows.extend(r)
        if curve is not None:
            curves.append(curve)
        grid = _sample_grid(data)
        if grid is not None:
            samples[data.name] = grid
        meta.append(dataset_row(data))
    measures = pd.DataFrame(rows, columns=["dataset", "quantity", "method", "value", "ci_low",
                                           "ci_high"])
    return Report(settings=settings, datasets=pd.DataFrame(meta), measures=measures,
                  robustness=pd.concat(curves, ignore_index=True) if curves else None,
                  local_dimensions=local, samples=samples, notes=notes)


def n_steps(settings):
    """Progress-bar steps per dataset (see :func:`measure`)."""
    return 3 + (3 if settings.train else 0)


# --------------------------------------------------------------------------- output

def summary_lines(report):
    """The lines printed to stdout: d_data (MLE, TwoNN, with CIs) and K_F per dataset."""
    level = f"{report.settings.confidence_level:.0%}"
    lines = []
    for meta in report.datasets.itertuples():
        lines.append(f"{meta.dataset}: {meta.n_samples} images {meta.image_shape}, "
                     f"classes {meta.classes}; {meta.preprocessing}")
        sub = report.measures[report.measures["dataset"] == meta.dataset]
        for m in sub.itertuples():
            label = f"{m.quantity} {m.method}"
            value = _format_value(m.quantity, m.value)
            ci = ""
            if np.isfinite(m.ci_low) and np.isfinite(m.ci_high):
                ci = (f"  [{level} CI {_format_value(m.quantity, m.ci_low)}, "
                      f"{_format_value(m.quantity, m.ci_high)}]")
            lines.append(f"  {label:<32s} {value:>10s}{ci}")
    lines.extend(f"note: {n}" for n in report.notes)
    return lines


def _format_value(quantity, value):
    if not np.isfinite(value):
        return "inf" if value > 0 else "nan"
    if quantity in ("K_F", "test_loss", "delta_loss"):
        return f"{value:.4g}"
    if quantity == "test_accuracy":
        return f"{value:.3f}"
    return f"{value:.2f}"


def _json_safe(value):
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (tuple, list)):
        return [_json_safe(v) for v in value]
    return value


def _records(frame):
    if frame is None:
        return []
    return [{k: _json_safe(v) for k, v in rec.items()} for rec in frame.to_dict("records")]


#: Every file a report folder can hold; a folder with anything else is never replaced.
REPORT_FILES = frozenset({"report.html", "report.json", "report.csv", "robustness.csv",
                          *(f"{name}.png" for name in ("dimensions", "sharpness",
                                                       "local_dimensions", "samples",
                                                       "robustness"))})


def check_output(out_dir, *, overwrite=False):
    """Whether writing to ``out_dir`` replaces a report; refuse when it would lose anything.

    A missing or empty folder is written; a folder holding a report is replaced only with
    ``overwrite``; a file, or a folder holding anything but report files, is refused.
    """
    out = Path(out_dir)
    if not out.exists():
        return False
    if not out.is_dir():
        raise ReportError(f"--out {out} is a file; pass a folder")
    names = {p.name for p in out.iterdir()}
    if not names:
        return False
    others = sorted(names - REPORT_FILES)
    if others:
        raise ReportError(f"--out {out} holds files that are not part of a report "
                          f"({', '.join(others[:3])}); pass a new or empty folder, so that "
                          "nothing else is replaced")
    if not overwrite:
        raise ReportError(f"--out {out} already holds a report; pass --overwrite to replace it, "
                          "or choose another --out")
    return True


def write_report(report, out_dir, *, title="skintrinsic report", overwrite=False):
    """Write report.json, report.csv, the PNG plots and a self-contained report.html.

    The files are written into a temporary folder beside ``out_dir`` and the folder is then
    renamed into place, so ``out_dir`` holds one complete report or none: never a mix of two
    runs, never a half-written one.  An existing report is replaced only with ``overwrite``
    (see :func:`check_output`).  Returns the path of ``report.html``.
    """
    out = Path(out_dir).absolute()
    check_output(out, overwrite=overwrite)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as exc:
        raise ReportError(f"cannot create the output folder {out}: {exc.strerror}; "
                          "pass a writable --out") from None
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's 0700 would hide the report from others
        _write_files(report, tmp, title=title)
        _swap_into_place(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already unless something failed
    return Path(out_dir) / "report.html"


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _swap_into_place(tmp, out):
    """Rename the finished folder ``tmp`` to ``out``, replacing an old ``out`` last."""
    if not out.exists() or not any(out.iterdir()):
        os.replace(tmp, out)  # a rename; an empty folder is replaced too
        return
    old = tmp.with_name(tmp.name[:-len(".tmp")] + ".old")
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except OSError:
        os.replace(old, out)  # put the earlier report back
        raise
    shutil.rmtree(old, ignore_errors=True)


def _write_files(report, out, *, title):
    report.measures.to_csv(out / "report.csv", index=False)
    if report.robustness is not None:
        report.robustness.to_csv(out / "robustness.csv", index=False)
    payload = {
        "skintrinsic_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "settings": {k: _json_safe(v) for k, v in dataclasses.asdict(report.settings).items()},
        "datasets": _records(report.datasets),
        "measures": _records(report.measures),
        "robustness": _records(report.robustness),
        "notes": list(report.notes),
    }
    (out / "report.json").write_text(json.dumps(payload, indent=2) + "\n")

    figures = make_figures(report)
    for name, (fig, _) in figures.items():
        fig.savefig(out / f"{name}.png", dpi=_DPI)
    (out / "report.html").write_text(_html(report, figures, out, title=title))


# --------------------------------------------------------------------------- plots

def _figure(width, height):
    # Figure without pyplot: no global state, no GUI backend, safe in any thread
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig


# Sizes for a laptop screen: figures about 9 inches wide, saved at 110 dpi (about 1000 pixels,
# the width of the page), with 12-point text.
_WIDE, _TALL = 9.0, 4.2
_DPI = 110
_FONT = {"font.size": 12, "axes.titlesize": 13, "legend.fontsize": 11}


def make_figures(report):
    """name -> (matplotlib Figure, caption), in the order the report shows them.

    One palette for all of them: colour is the dataset (in the order of the report),
    marker the estimator or attack (:mod:`skintrinsic.plotting._style`).
    """
    import matplotlib

    from .plotting._style import dataset_colors

    colors = dataset_colors(report.datasets["dataset"])
    with matplotlib.rc_context(_FONT):
        figures = {"dimensions": _plot_dimensions(report, colors),
                   "sharpness": _plot_sharpness(report, colors),
                   "local_dimensions": _plot_local(report, colors)}
        if report.samples:
            figures["samples"] = _plot_samples(report)
        if report.robustness is not None:
            figures["robustness"] = _plot_robustness(report, colors)
    return figures


def _dataset_legend(ax, colors, **kwargs):
    from matplotlib.patches import Patch

    handles = [Patch(color=c, label=name) for name, c in colors.items()]
    return ax.legend(handles=handles, title="dataset", **kwargs)


def _plot_dimensions(report, colors):
    from matplotlib.lines import Line2D

    from .plotting._style import estimator_marker

    m = report.measures[report.measures["quantity"].isin(["d_data", "d_repr"])]
    names = list(colors)
    methods = list(dict.fromkeys(m["quantity"] + ": " + m["method"]))
    fig = _figure(_WIDE, _TALL)
    ax = fig.add_subplot()
    width = 0.7 / max(len(names), 1)
    markers = {}
    for j, method in enumerate(methods):
        markers[method] = estimator_marker(method, j)
        sub = m[(m["quantity"] + ": " + m["method"]) == method].set_index("dataset")
        for i, name in enumerate(names):
            if name not in sub.index:
                continue
            row = sub.loc[name]
            low, high = row["ci_low"], row["ci_high"]
            # max(.., 0): an error bar must never fail to draw over an interval that misses it
            err = [[max(row["value"] - low, 0.0) if np.isfinite(low) else 0.0],
                   [max(high - row["value"], 0.0) if np.isfinite(high) else 0.0]]
            ax.errorbar(j + (i - (len(names) - 1) / 2) * width, row["value"], yerr=err,
                        marker=markers[method], markersize=9, color=colors[name], capsize=4,
                        linestyle="none")
    ax.set_xticks(range(len(methods)), [_short_method(x) for x in methods])
    ax.set_xlim(-0.6, len(methods) - 0.4)
    ax.set_ylabel("intrinsic dimension")
    ax.set_ylim(bottom=0)
    ax.grid(axis="y", alpha=0.3)
    legend = _dataset_legend(ax, colors, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.add_artist(legend)
    ax.legend(handles=[Line2D([], [], color="0.2", marker=mk, linestyle="none", markersize=9,
                              label=_short_method(x)) for x, mk in markers.items()],
              title="estimator", loc="lower left", bbox_to_anchor=(1.0, 0.0))
    ax.set_title("Intrinsic dimension")
    level = f"{report.settings.confidence_level:.0%}"
    return fig, (f"Intrinsic dimension of each dataset (d_data by MLE and TwoNN"
                 f"{', d_repr of the trained network' if report.settings.train else ''}); "
                 f"colour: dataset, marker: estimator; error bars: {level} bootstrap "
                 "intervals.")


def _short_method(method):
    """'d_data: MLE (k=20)' -> 'd_data, MLE (k=20)' on two lines for a tick label."""
    quantity, _, name = method.partition(": ")
    return f"{quantity}\n{name}"


def _plot_sharpness(report, colors):
    from matplotlib.ticker import FuncFormatter

    m = report.measures[report.measures["quantity"] == "K_F"]
    fig = _figure(_WIDE, 1.6 + 0.7 * len(m))
    ax = fig.add_subplot()
    values = np.where(np.isfinite(m["value"]), m["value"], np.nan)
    positions = np.arange(len(m))[::-1]  # the first dataset on top
    for y_pos, name, value, shown in zip(positions, m["dataset"], values, m["value"]):
        ax.plot([0, value], [y_pos, y_pos], color=colors[name], lw=3)
        ax.plot(value, y_pos, "o", color=colors[name], markersize=10)
        ax.annotate(_format_value("K_F", shown), (value if np.isfinite(value) else 0, y_pos),
                    xytext=(8, 0), textcoords="offset points", va="center")
    ax.set_yticks(positions, list(m["dataset"]))
    ax.set_ylim(-0.7, len(m) - 0.3)
    # plain numbers on the axis: no "1e-3" offset text beside the printed values
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    ax.set_xlim(0, np.nanmax(values) * 1.25 if np.isfinite(np.nanmax(values)) else 1)
    ax.set_xlabel("K_F (1 / pixel-value distance)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Label sharpness")
    return fig, ("Label sharpness K_F = max |y_j - y_k| / ||x_j - x_k|| over all pairs, "
                 "on the preprocessed images; higher means two nearby images can carry "
                 "different labels.")


def _plot_local(report, colors):
    fig = _figure(_WIDE, _TALL)
    ax = fig.add_subplot()
    for name, local in report.local_dimensions.items():
        local = np.asarray(local, dtype=float)
        local = local[np.isfinite(local)]
        if local.size == 0:
            continue
        high = np.quantile(local, 0.99)
        ax.hist(local[local <= high], bins=40, density=True, histtype="stepfilled", alpha=0.35,
                color=colors[name], label=name)
        d = report.measures.query("dataset == @name and quantity == 'd_data'")["value"].iloc[0]
        ax.axvline(d, color=colors[name], linestyle="--", lw=2)
    ax.set_xlabel(f"local MLE dimension (k={report.settings.k})")
    ax.set_ylabel("density")
    ax.legend(title="dataset")
    ax.set_title("Local intrinsic dimension")
    return fig, ("Distribution of the per-image MLE dimension 1/u_k (up to the 99th "
                 "percentile); dashed: the dataset estimate, which averages the inverses.")


def _plot_samples(report):
    names = list(report.samples)
    per_row = max(len(report.samples[n][0]) for n in names)
    fig = _figure(min(1.0 * per_row + 1.5, 12), 1.15 * len(names) + 0.4)
    axes = fig.subplots(len(names), per_row, squeeze=False)
    for r, name in enumerate(names):
        images, labels = report.samples[name]
        for c in range(per_row):
            ax = axes[r, c]
            ax.set_axis_off()
            if c < len(images):
                image = images[c]
                if image.ndim == 3:  # RGB after the reference preprocessing: max 255
                    image = np.clip(np.asarray(image, dtype=float) / 255.0, 0.0, 1.0)
                ax.imshow(image, cmap="gray", interpolation="nearest")
                ax.set_title(str(labels[c]), fontsize="small")
        axes[r, 0].text(-0.15, 0.5, name, transform=axes[r, 0].transAxes, ha="right",
                        va="center", fontsize="small")
    return fig, "A few preprocessed images of each class, with their labels."


def _plot_robustness(report, colors):
    fig = _figure(_WIDE, _TALL)
    ax = fig.add_subplot()
    for name, sub in report.robustness.groupby("dataset", sort=False):
        ax.plot(sub["epsilon"] * 255, sub["delta_loss"], marker="o", markersize=8, lw=2,
                label=name, color=colors[name])
    ax.set_xlabel("epsilon (x 1/255 of the pixel range)")
    ax.set_ylabel("attacked loss - clean loss")
    ax.legend(title="dataset")
    ax.grid(alpha=0.3)
    ax.set_title("Robustness to FGSM")
    return fig, ("Increase of the test loss under an FGSM attack of size epsilon, for the "
                 "small network trained on each dataset.")


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; margin-top: 1.6em;
border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; }
th { background: #f2f4f7; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; } .meta { color: #555; font-size: 0.9em; }
.notes li { color: #8a5300; }
"""


def _table(frame):
    return frame.to_html(index=False, border=0, na_rep="", escape=True,
                         float_format=lambda v: f"{v:.4g}")


def _wide(report):
    """One row per dataset: each (quantity, method) with its interval, for the HTML table."""
    level = f"{report.settings.confidence_level:.0%}"
    wide = {}
    for m in report.measures.itertuples():
        text = _format_value(m.quantity, m.value)
        if np.isfinite(m.ci_low) and np.isfinite(m.ci_high):
            text += (f" [{_format_value(m.quantity, m.ci_low)}, "
                     f"{_format_value(m.quantity, m.ci_high)}]")
        wide.setdefault(m.dataset, {"dataset": m.dataset})[f"{m.quantity}, {m.method}"] = text
    frame = pd.DataFrame(list(wide.values()))
    return frame, level


_TRAIN_SETTINGS = ("arch", "epochs", "test_size", "epsilons")


def _settings_frame(settings):
    rows = []
    for key, value in dataclasses.asdict(settings).items():
        if key in _TRAIN_SETTINGS and not settings.train:
            continue
        if key == "epsilons":
            value = ", ".join(f"{255 * e:g}/255" for e in value)
        elif value is None or value == ():
            value = "default"
        rows.append({"setting": key, "value": str(value)})
    return pd.DataFrame(rows)


def _html(report, figures, out, *, title):
    wide, level = _wide(report)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">skintrinsic {html.escape(__version__)}, '
        f"{html.escape(datetime.datetime.now().strftime('%Y-%m-%d %H:%M'))}. "
        f"Intervals are {level} bootstrap intervals. Files: report.json, report.csv and the PNG "
        "plots beside this page.</p>",
        "<h2>Summary</h2>",
        _table(wide),
        "<h2>Datasets</h2>",
        _table(report.datasets.drop(columns=["description"])),
    ]
    if report.notes:
        parts.append("<h2>Notes</h2><ul class=\"notes\">")
        parts.extend(f"<li>{html.escape(n)}</li>" for n in report.notes)
        parts.append("</ul>")
    parts.append("<h2>Plots</h2>")
    for name, (_, caption) in figures.items():
        data = base64.b64encode((out / f"{name}.png").read_bytes()).decode("ascii")
        parts.append(f'<figure><img alt="{html.escape(name)}" '
                     f'src="data:image/png;base64,{data}">'
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    if report.robustness is not None:
        parts.append("<h2>Robustness curve</h2>")
        cols = ["dataset", "attack", "epsilon", "clean_loss", "attacked_loss", "delta_loss",
                "clean_accuracy", "robust_accuracy"]
        parts.append(_table(report.robustness[[c for c in cols if c in report.robustness]]))
    parts.append("<h2>Settings</h2>")
    parts.append(_table(_settings_frame(report.settings)))
    parts.append("<h2>What the numbers mean</h2><ul>"
                 "<li><b>d_data</b>: intrinsic dimension of the images, by the Levina-Bickel "
                 "maximum-likelihood estimator (k neighbours, MacKay-Ghahramani averaging) and "
                 "by TwoNN (Facco et al.).</li>"
                 "<li><b>K_F</b>: label sharpness, the largest |y_j - y_k| / ||x_j - x_k|| over "
                 "pairs of images (Konz &amp; Mazurowski, ICLR 2024); exact.</li>"
                 "<li><b>d_repr</b>: intrinsic dimension (TwoNN) of a trained network's "
                 "penultimate layer on its training set.</li>"
                 "<li><b>delta_loss</b>: test loss under an FGSM attack minus the clean "
                 "test loss.</li></ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
