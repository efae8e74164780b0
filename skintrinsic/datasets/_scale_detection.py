"""The scale-detection task of Tomasini et al. (2023): are two active pixels close?

Each sample is zero except at two active sites.  Its label is +1 ("close")
when the sites are nearer than ``xi - gap/2`` and -1 ("far") when they are at
least ``xi + gap/2`` apart; pairs in between are never drawn.  Samples are
distinct pairs, drawn without replacement and balanced between the classes,
so a seeded train/test split never shares a configuration.

The reference code never activates the diagonal pixels ``(i, i)``; that is a
quirk, and every pixel can be active here.
"""

import math
from numbers import Integral, Real

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.random import sample_without_replacement

from .._validation import check_memory


def _balanced_pairs(first, second, label, n_samples, rng, describe):
    """Pick ``n_samples`` distinct pairs, half of each label (close gets the odd one)."""
    wanted = {1: n_samples - n_samples // 2, -1: n_samples // 2}
    chosen = []
    for cls, k in wanted.items():
        pool = np.flatnonzero(label == cls)
        if pool.size < k:
            name = "close" if cls == 1 else "far"
            raise ValueError(
                f"only {pool.size} distinct {name} pairs exist for {describe}, but {k} were asked; "
                "lower n_samples or change xi / gap."
            )
        chosen.append(pool[sample_without_replacement(pool.size, k, random_state=rng)])
    order = np.concatenate(chosen)
    order = order[rng.permutation(order.size)]
    return first[order], second[order], label[order]


def _split(X, y, test_size, rng):
    if test_size is None:
        return X, y
    return train_test_split(X, y, test_size=test_size, stratify=y, random_state=rng)


def _labels(dist, xi, gap):
    label = np.zeros(dist.shape, dtype=np.int64)
    label[dist < xi - gap / 2] = 1
    label[dist >= xi + gap / 2] = -1
    return label


def _check_pairs_memory(n_sites, n_samples, name):
    """Every pair of sites is listed (about ten int64 arrays of them), then the samples built."""
    n_pairs = n_sites * (n_sites - 1) // 2
    check_memory(80 * n_pairs + 4 * n_samples * n_sites,
                 what=f"the {n_pairs} pairs of {n_sites} sites and {n_samples} samples",
                 fix=f"Pass a smaller {name} or n_samples.")


@validate_params(
    {
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "d": [Interval(Integral, 2, None, closed="left")],
        "xi": [Interval(Real, 0, None, closed="neither")],
        "gap": [Interval(Real, 0, None, closed="left")],
        "norm": [StrOptions({"l2", "linf"})],
        "periodic": ["boolean"],
        "test_size": [None, Interval(Real, 0, 1, closed="neither"),
                      Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_scale_detection(n_samples=1000, *, d=28, xi=14, gap=2, norm="l2", periodic=False,
                         test_size=None, random_state=None):
    """Images ``1 x d x d`` with two active pixels, labelled by whether they are close.

    Both active pixels have value ``d^2 / 2``, so the image mean is 1.  The
    label is +1 ("close") if their distance is ``< xi - gap/2`` and -1
    ("far") if it is ``>= xi + gap/2``.  All ``d^2 (d^2 - 1) / 2`` pixel pairs
    are enumerated (memory grows as ``d^4``: fine up to ``d`` of about 64),
    and ``n_samples`` distinct ones are drawn, half per class.

    Parameters
    ----------
    n_samples : int, default=1000
        Total number of images (``close`` gets the extra one when odd).
    d : int, default=28
        Side of the images.
    xi : float, default=14
        Characteristic scale.
    gap : float, default=2
        Width of the band of distances around ``xi`` that is never drawn,
        so that one-pixel moves of both pixels cannot flip a label.
    norm : {"l2", "linf"}, default="l2"
        Euclidean or max distance between the pixels.
    periodic : bool, default=False
        Measure distances on the torus (wrapping at the edges).
    test_size : float or int, default=None
        If set, return a stratified, seeded split ``X_train, X_test, y_train,
        y_test`` (as :func:`~sklearn.model_selection.train_test_split`).
        The two parts share no configuration.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_samples, 1, d, d), float32
    y : ndarray of shape (n_samples,), int64 in {+1, -1}
        Or the four arrays of the split when ``test_size`` is set.

    Examples
    --------
    >>> import numpy as np
    >>> from skintrinsic.datasets import make_scale_detection
    >>> X, y = make_scale_detection(100, random_state=0)
    >>> X.shape, int(y.sum()), float(X.mean())
    ((100, 1, 28, 28), 0, 1.0)
    """
    rng = check_random_state(random_state)
    _check_pairs_memory(d * d, n_samples, "d")
    a, b = np.triu_indices(d * d, 1)
    ya, xa = np.divmod(a, d)
    yb, xb = np.divmod(b, d)
    dy, dx = np.abs(ya - yb), np.abs(xa - xb)
    if periodic:
        dy, dx = np.minimum(dy, d - dy), np.minimum(dx, d - dx)
    dist = np.hypot(dy, dx) if norm == "l2" else np.maximum(dy, dx)
    label = _labels(dist, xi, gap)
    keep = label != 0
    first, second, y = _balanced_pairs(a[keep], b[keep], label[keep], n_samples, rng,
                                       f"d={d}, xi={xi}, gap={gap}, norm={norm!r}")
    X = np.zeros((n_samples, d * d), dtype=np.float32)
    rows = np.arange(n_samples)
    X[rows, first] = X[rows, second] = d * d / 2
    return _split(X.reshape(n_samples, 1, d, d), y, test_size, rng)


@validate_params(
    {
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "length": [Interval(Integral, 2, None, closed="left")],
        "xi": [Interval(Integral, 1, None, closed="left")],
        "task": [StrOptions({"distance", "block"}), Interval(Integral, 1, 2, closed="both")],
        "gap": [Interval(Real, 0, None, closed="left")],
        "test_size": [None, Interval(Real, 0, 1, closed="neither"),
                      Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_scale_detection_1d(n_samples=1000, *, length=128, xi=32, task=1, gap=0,
                            test_size=None, random_state=None):
    """Signals of ``length`` sites with two active ones, for the theory of Tomasini et al. (2023).

    Both active sites have value ``sqrt(length / 2)`` (mean square 1).

    - Task 1 (``"distance"``): +1 if the periodic distance
      ``min(|i - j|, length - |i - j|)`` is ``< xi - gap/2``, -1 if it is
      ``>= xi + gap/2``.
    - Task 2 (``"block"``): +1 if both sites lie in the same block
      ``[k xi, (k + 1) xi)``, -1 otherwise (``gap`` does not apply).  Its
      natural perturbation moves a site by one only within its block:
      ``sparse_moves(X, block_size=xi)``.

    Parameters
    ----------
    n_samples : int, default=1000
    length : int, default=128
    xi : int, default=32
    task : {1, 2, "distance", "block"}, default=1
    gap : float, default=0
        Task 1 only: band of distances never drawn.
    test_size : float or int, default=None
        If set, return ``X_train, X_test, y_train, y_test``, stratified and seeded.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_samples, 1, length), float32
    y : ndarray of shape (n_samples,), int64 in {+1, -1}

    Examples
    --------
    >>> import numpy as np
    >>> from skintrinsic.datasets import make_scale_detection_1d
    >>> X, y = make_scale_detection_1d(50, task=2, random_state=0)
    >>> X.shape, int((y == 1).sum()), float((X ** 2).mean())
    ((50, 1, 128), 25, 1.0)
    """
    rng = check_random_state(random_state)
    task = {"distance": 1, "block": 2}.get(task, task)
    _check_pairs_memory(length, n_samples, "length")
    a, b = np.triu_indices(length, 1)
    if task == 1:
        sep = b - a
        label = _labels(np.minimum(sep, length - sep), xi, gap)
    else:
        label = np.where(a // xi == b // xi, 1, -1)
    keep = label != 0
    first, second, y = _balanced_pairs(a[keep], b[keep], label[keep], n_samples, rng,
                                       f"length={length}, xi={xi}, task={task}")
    X = np.zeros((n_samples, length), dtype=np.float32)
    rows = np.arange(n_samples)
    X[rows, first] = X[rows, second] = math.sqrt(length / 2)
    return _split(X.reshape(n_samples, 1, length), y, test_size, rng)
