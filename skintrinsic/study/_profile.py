"""The measuring behind ``skintrinsic profile`` and ``compare``: prepared datasets in, a Report out.

Every dataset is measured on the same number of images, ``n_reference``: the smallest
dataset's size once its task is drawn (each task holds at most ``--n-samples`` images;
``profile`` measures all the images of its one dataset).  d_data and K_F come from the
study layer's :func:`~skintrinsic.study._properties.dataset_properties` (d_data on a
stratified reference sample of ``n_reference`` images, K_F as its law over stratified
subsets of that size); with ``--train``, a network is trained and probed on the same
reference sample by :func:`~skintrinsic.study._runs.train_and_evaluate`, the one
orchestrator of training runs.  Estimator warnings become the report's notes.
"""

import contextlib
import warnings

import numpy as np
import pandas as pd

from .._report import Report
from ..datasets._sources import SourceError, _one_line
from ._properties import reference_size
from ._runs import REFERENCE_EPSILON

_MEASURE_COLUMNS = ["dataset", "quantity", "method", "value", "ci_low", "ci_high"]


@contextlib.contextmanager
def _notes_from_warnings(notes, names, ignore=()):
    """Turn the warnings raised inside into notes (except those starting with ``ignore``).

    A warning that names none of ``names`` is prefixed with them, so that every note says
    which dataset it is about.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        message = _one_line(w.message)
        if message.startswith(tuple(ignore)):
            continue
        named = any(repr(n) in message or message.startswith(f"{n}:") for n in names)
        note = message if named else f"{', '.join(names)}: {message}"
        if note not in notes:
            notes.append(note)


def _row(dataset, quantity, method, value, ci=(np.nan, np.nan)):
    return {"dataset": dataset, "quantity": quantity, "method": method, "value": float(value),
            "ci_low": float(ci[0]), "ci_high": float(ci[1])}


def _check_duplicates(data, notes):
    """Note exact duplicate images; return the rows to measure, their number of distinct
    images and whether labels conflict.

    The estimators find duplicates themselves, but only in the rows they are given; here
    they are named by their rows in the user's data.  A copy of an image that carries
    another label than its first occurrence makes K_F infinite: such copies are left out
    of the measuring (d_data counts each distinct image once anyway) and K_F is reported
    as infinite.
    """
    from .._neighbors import find_duplicates

    n = len(data.X)
    info = find_duplicates(np.asarray(data.X).reshape(n, -1))
    if not info.n_duplicates:
        return np.arange(n), n, False
    rows = np.arange(n) if data.rows is None else np.asarray(data.rows)
    copy = np.flatnonzero(info.groups != np.arange(n))

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
    # the conflicting rows left out are copies, so the kept rows hold every distinct image
    return np.setdiff1d(np.arange(n), conflict), n - info.n_duplicates, bool(conflict.size)


def _estimators(settings):
    from ..dimension import IntrinsicDimension
    from ..sharpness import LabelSharpness

    common = dict(n_bootstrap=settings.n_bootstrap, confidence_level=settings.confidence_level,
                  device=settings.device, random_state=settings.random_state,
                  verbose=settings.verbose)
    dimension = {f"MLE (k={settings.k})": IntrinsicDimension("mle", k=settings.k, **common),
                 "TwoNN": IntrinsicDimension("twonn", **common)}
    return dimension, LabelSharpness(device=settings.device, verbose=settings.verbose)


def _class_order(data):
    """The classes of a dataset in the order given with --classes, else sorted."""
    if data.classes is not None:
        return np.asarray(data.classes)
    return np.unique(data.y)


def _as_nchw(X):
    """Images as (n, C, H, W), the layout the networks take."""
    X = np.asarray(X)
    if X.ndim == 3:
        return X[:, None]
    if X.ndim == 4:
        return X
    raise SourceError(
        f"training a network needs images (n, H, W) or (n, C, H, W), got shape {X.shape}; "
        "drop --train to measure flat data."
    )


def _train_and_probe(data, rows, settings, *, notes):
    """Train a small network on ``rows`` of ``data`` and probe it: measures and its curve."""
    from sklearn.model_selection import train_test_split

    from ..dimension import IntrinsicDimension
    from ..nets import ImageClassifier
    from ._runs import train_and_evaluate

    X = _as_nchw(np.asarray(data.X)[rows]).astype(np.float32)
    # any label type, as 0..C-1 in the order the user gave the classes
    position = {c: i for i, c in enumerate(_class_order(data).tolist())}
    codes = np.array([position[c] for c in np.asarray(data.y)[rows].tolist()], dtype=np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, codes, test_size=settings.test_size, stratify=codes,
        random_state=settings.random_state)
    progress = {}
    if settings.verbose:
        from skorch.callbacks import ProgressBar

        # one bar per epoch, over its batches of images, with the time left
        batch_size = ImageClassifier().batch_size
        progress["callbacks"] = [("progress", ProgressBar(
            batches_per_epoch=-(-len(y_train) // batch_size)))]
    classifier = ImageClassifier(arch=settings.arch, max_epochs=settings.epochs,
                                 device=settings.device, **progress)
    twonn = IntrinsicDimension("twonn", n_bootstrap=settings.n_bootstrap,
                               confidence_level=settings.confidence_level,
                               device=settings.device, verbose=settings.verbose)
    with _notes_from_warnings(notes, [data.name]):
        # clip to the preprocessed pixel range, so that epsilon is a fraction of [0, 255]
        row, curve, _ = train_and_evaluate(
            classifier, X_train, y_train, X_test, y_test, seed=settings.random_state,
            attacks=("fgsm",), epsilons=list(settings.epsilons), bounds=(0.0, 255.0),
            representation={"estimator": twonn}, device=settings.device,
            verbose=settings.verbose)
    curve.insert(0, "dataset", data.name)
    method = f"{settings.arch}, N={len(y_train)}"
    out = [_row(data.name, "d_repr", f"TwoNN ({row['d_repr_layer']})", row["d_repr"],
                (row["d_repr_ci_low"], row["d_repr_ci_high"])),
           _row(data.name, "test_loss", method, row["test_loss"]),
           _row(data.name, "test_accuracy", method, row["test_accuracy"])]
    if np.isclose(settings.epsilons, REFERENCE_EPSILON).any():
        out += [_row(data.name, "delta_loss", "FGSM, eps=2/255", row["delta_loss_fgsm"]),
                _row(data.name, "relative_delta_loss", "FGSM, eps=2/255",
                     row["relative_delta_loss_fgsm"])]
    return out, curve


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


def dataset_row(data, n_reference):
    X = np.asarray(data.X)
    labels = _class_order(data)
    counts = [int(np.sum(data.y == c)) for c in labels]
    return {
        "dataset": data.name,
        "source": data.source,
        "n_available": int(X.shape[0]),
        "n_reference": int(n_reference),
        "image_shape": "x".join(str(s) for s in X.shape[1:]),
        "n_features": int(np.prod(X.shape[1:])),
        "classes": ", ".join(f"{c} ({n})" for c, n in zip(labels, counts)),
        "preprocessing": data.preprocessing,
        "description": data.description,
    }


def n_stages(n_datasets, settings):
    """Progress-bar stages of a run: loading each dataset, the properties, training, writing."""
    return 2 * n_datasets + 2 if settings.train else n_datasets + 2


def build_report(datasets, settings, *, stage=None):
    """Measure the prepared :class:`~skintrinsic.datasets._sources.Dataset` s at one N.

    ``stage(description)`` is called as each long step begins (for a progress bar).
    Returns a :class:`~skintrinsic._report.Report`.
    """
    from ._properties import dataset_properties

    stage = stage or (lambda description: None)
    notes, kept, conflicting = [], {}, set()
    for data in datasets:
        kept[data.name], n_distinct, conflict = _check_duplicates(data, notes)
        if conflict:
            conflicting.add(data.name)
        if n_distinct <= max(settings.k, 2):
            raise SourceError(
                f"{data.name}: {n_distinct} distinct images, but d_data with k={settings.k} "
                f"needs at least {settings.k + 1}; pass more images or a smaller --k.")
    # the smallest dataset, at most --n-samples
    n_reference = reference_size([len(rows) for rows in kept.values()],
                                 max_reference=settings.n_samples)
    stage(f"d_data and K_F at N={n_reference}")
    dimension, sharpness = _estimators(settings)
    names = [d.name for d in datasets]
    with _notes_from_warnings(notes, names, ignore=("Dropped",)):  # duplicates: noted above
        props = dataset_properties(
            {d.name: (np.asarray(d.X)[kept[d.name]], np.asarray(d.y)[kept[d.name]])
             for d in datasets},
            n_reference=n_reference, dimension=dimension, sharpness=sharpness,
            n_draws=settings.n_draws, random_state=settings.random_state,
            device=settings.device, verbose=settings.verbose)
    measures = props.measures[_MEASURE_COLUMNS].copy()
    table = props.table.copy()
    for name in conflicting:  # K_F of identical images with different labels
        at = (measures["dataset"] == name) & (measures["quantity"] == "K_F")
        measures.loc[at, ["value", "ci_low", "ci_high"]] = [np.inf, np.nan, np.nan]
        table.loc[table["dataset"] == name, [c for c in table if c.startswith("K_F")]] = np.inf
    rows = [measures]
    curves = []
    if settings.train:
        for data in datasets:
            stage(f"{data.name}: training and probing")
            reference = kept[data.name][props.reference_indices[data.name]]
            trained, curve = _train_and_probe(data, reference, settings, notes=notes)
            rows.append(pd.DataFrame(trained, columns=_MEASURE_COLUMNS))
            curves.append(curve)
    measures = pd.concat(rows, ignore_index=True)
    # one dataset's rows together, in the order of the datasets
    order = {name: i for i, name in enumerate(names)}
    measures = measures.sort_values("dataset", key=lambda s: s.map(order), kind="stable")
    samples = {d.name: g for d in datasets if (g := _sample_grid(d)) is not None}
    return Report(settings=settings,
                  datasets=pd.DataFrame([dataset_row(d, n_reference) for d in datasets]),
                  measures=measures.reset_index(drop=True),
                  robustness=pd.concat(curves, ignore_index=True) if curves else None,
                  local_dimensions=dict(props.local_dimensions), samples=samples, notes=notes,
                  n_reference=n_reference, properties=table)

