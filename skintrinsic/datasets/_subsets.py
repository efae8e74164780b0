"""The one stratified-subset helper: every training subset, reference sample and task draw."""

import numpy as np
from sklearn.utils import check_random_state

from .._validation import is_integer, unique_labels

__all__ = ["stratified_subset"]


def stratified_subset(y, size, random_state=None):
    """Sorted indices of a random subset of ``size`` samples, stratified by ``y``.

    Every class gets one sample, and the remaining ``size - n_classes`` places
    are shared in proportion to the classes' remaining counts (largest
    remainders, ties broken at random).  Unlike ``train_test_split`` this works
    up to ``size = len(y)``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels.
    size : int
        Subset size, from the number of classes to ``n_samples``.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    indices : ndarray of shape (size,)

    Examples
    --------
    >>> from skintrinsic.datasets import stratified_subset
    >>> y = [0] * 6 + [1] * 3
    >>> idx = stratified_subset(y, 6, random_state=0)
    >>> [int((idx < 6).sum()), int((idx >= 6).sum())]
    [4, 2]
    """
    rng = check_random_state(random_state)
    classes, codes, counts = unique_labels(y, return_inverse=True, return_counts=True)
    n, n_classes = codes.size, classes.size
    if not is_integer(size) or not n_classes <= size <= n:
        raise ValueError(
            f"A stratified subset needs between {n_classes} (one per class) and {n} samples; "
            f"got {size}. Change train_size."
        )
    spare = size - n_classes
    capacity = counts - 1
    exact = capacity * (spare / capacity.sum()) if capacity.sum() else np.zeros(n_classes)
    take = np.floor(exact).astype(int)
    remainder = exact - take
    left = spare - take.sum()
    # largest remainders first; a random key breaks ties between equal remainders
    order = np.lexsort((rng.random_sample(n_classes), -remainder))
    take[order[:left]] += 1
    chosen = [rng.choice(np.flatnonzero(codes == c), take[c] + 1, replace=False)
              for c in range(n_classes)]
    return np.sort(np.concatenate(chosen))
