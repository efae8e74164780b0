"""Stratified subsets: the one place where the library draws a training subset by class.

``ImageClassifier(train_size=...)``, the scaling study, the command line and
``binary_task`` all draw their subsets here, so that one seed gives one subset
wherever it is drawn.
"""

import math
import numbers

import numpy as np
from sklearn.utils import check_random_state

from .._validation import is_integer, unique_labels

__all__ = ["stratified_subset"]


def stratified_subset(y, size, random_state=None, *, allocation="proportional"):
    """Sorted indices of a random subset of ``size`` samples, stratified by ``y``.

    With ``allocation="proportional"`` every class gets one sample, and the
    remaining ``size - n_classes`` places are shared in proportion to the
    classes' remaining counts (largest remainders, ties broken at random).
    Unlike ``train_test_split`` this works up to ``size = len(y)`` and down to
    one sample per class.  With ``allocation="balanced"`` every class gets
    ``size // n_classes`` samples and the ``size % n_classes`` spare places go
    to classes drawn at random (the two-class tasks of Konz & Mazurowski are
    balanced).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels.
    size : int or float
        Subset size: a number of samples, from the number of classes to
        ``n_samples``, or a fraction in (0, 1] of ``n_samples`` (rounded down).
    random_state : int, RandomState instance or None, default=None
        Seeds the draw.  An int gives the same subset on every call.
    allocation : {"proportional", "balanced"}, default="proportional"
        How the places are shared among the classes.

    Returns
    -------
    indices : ndarray of shape (size,)
        Sorted row indices into ``y``.

    See Also
    --------
    skintrinsic.nets.ImageClassifier : Trains on ``stratified_subset(y, train_size)``.
    skintrinsic.datasets.binary_task : The paper's balanced two-class task.

    Examples
    --------
    >>> from skintrinsic.datasets import stratified_subset
    >>> y = [0] * 6 + [1] * 3
    >>> idx = stratified_subset(y, 6, random_state=0)
    >>> [int((idx < 6).sum()), int((idx >= 6).sum())]
    [4, 2]
    >>> idx = stratified_subset(y, 6, allocation="balanced", random_state=0)
    >>> [int((idx < 6).sum()), int((idx >= 6).sum())]
    [3, 3]
    >>> stratified_subset(y, 0.5, random_state=0).size
    4
    """
    if allocation not in ("proportional", "balanced"):
        raise ValueError(
            f"allocation must be 'proportional' or 'balanced', got {allocation!r}."
        )
    rng = check_random_state(random_state)
    classes, codes, counts = unique_labels(y, return_inverse=True, return_counts=True)
    n, n_classes = codes.size, classes.size
    size = _as_count(size, n, n_classes)
    if allocation == "proportional":
        take = _proportional(counts, size, rng)
    else:
        take = _balanced(classes, counts, size, rng)
    chosen = [rng.choice(np.flatnonzero(codes == c), take[c], replace=False)
              for c in range(n_classes)]
    return np.sort(np.concatenate(chosen))


def _as_count(size, n, n_classes):
    """``size`` as a number of samples, or a clear error naming the valid range."""
    if isinstance(size, numbers.Real) and not isinstance(size, (numbers.Integral, bool)) \
            and 0 < size <= 1:
        size = int(math.floor(size * n + 1e-9))
    if not is_integer(size) or not n_classes <= size <= n:
        more = f" (more samples than the {n} given)" if is_integer(size) and size > n else ""
        raise ValueError(
            f"A stratified subset of {n} samples in {n_classes} classes takes between "
            f"{n_classes} (one per class) and {n} samples, or a fraction in (0, 1] of them; "
            f"got {size!r}{more}. Change the subset size."
        )
    return int(size)


def _proportional(counts, size, rng):
    """One sample per class, the rest by largest remainders of the classes' spare counts."""
    n_classes = counts.size
    spare = size - n_classes
    capacity = counts - 1
    exact = capacity * (spare / capacity.sum()) if capacity.sum() else np.zeros(n_classes)
    take = np.floor(exact).astype(int)
    remainder = exact - take
    left = spare - take.sum()
    # largest remainders first; a random key breaks ties between equal remainders
    order = np.lexsort((rng.random_sample(n_classes), -remainder))
    take[order[:left]] += 1
    return take + 1


def _balanced(classes, counts, size, rng):
    """``size // n_classes`` per class, the spare places to classes drawn at random."""
    n_classes = counts.size
    take = np.full(n_classes, size // n_classes)
    take[rng.choice(n_classes, size % n_classes, replace=False)] += 1
    short = take > counts
    if short.any():
        raise ValueError(
            f"A balanced subset of {size} samples needs {take.max()} of each class, but "
            + ", ".join(f"class {c!r} has {k}" for c, k in zip(classes[short].tolist(),
                                                                counts[short].tolist()))
            + f". Lower the size to at most {n_classes * counts.min()}, or use "
            "allocation='proportional'."
        )
    return take
