"""The intrinsic dimension of each class of a labelled data set, and of the pooled data."""

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.utils import Bunch
from sklearn.utils._param_validation import HasMethods, validate_params
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, column_or_1d

from .._validation import as_array


@validate_params(
    {"X": ["array-like", "sparse matrix"], "y": ["array-like"], "estimator": [HasMethods(["fit"]), None]},
    prefer_skip_nested_validation=True,
)
def class_dimensions(X, y, *, estimator=None):
    """Intrinsic dimension of each class of ``(X, y)`` and of all samples pooled.

    Each class is fitted on its own by a clone of ``estimator`` (its neighbours
    are searched among the samples of that class only), then the pooled data
    once.  A class with fewer distinct samples than the estimator needs raises
    the estimator's own error, naming the class.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Samples; images of any shape are flattened by the estimator.
    y : array-like of shape (n_samples,)
        Class labels (at least two classes).
    estimator : IntrinsicDimension, default=None
        The (unfitted) estimator to clone; ``None`` means
        ``IntrinsicDimension()``, the paper's MLE.

    Returns
    -------
    result : Bunch
        ``classes`` (ndarray of the sorted labels), ``dimensions`` and
        ``confidence_intervals`` (one value / row per class), ``n_samples``
        (distinct samples fitted per class), ``pooled_dimension``,
        ``pooled_confidence_interval`` and ``estimators`` (the fitted clones,
        one per class, then the pooled one).

    Examples
    --------
    >>> import numpy as np
    >>> from skintrinsic import IntrinsicDimension, class_dimensions
    >>> rng = np.random.default_rng(0)
    >>> line = np.c_[rng.uniform(size=300), np.zeros((300, 2))]
    >>> plane = np.c_[rng.uniform(size=(300, 2)) + 5, np.zeros(300)]
    >>> X, y = np.vstack([line, plane]), np.repeat(["line", "plane"], 300)
    >>> res = class_dimensions(X, y, estimator=IntrinsicDimension(n_bootstrap=0))
    >>> res.classes.tolist(), np.round(res.dimensions).tolist()
    (['line', 'plane'], [1.0, 2.0])
    """
    from ..dimension import IntrinsicDimension

    estimator = IntrinsicDimension() if estimator is None else estimator
    if sp.issparse(X):
        raise TypeError("class_dimensions takes dense arrays, got a sparse matrix. Convert it "
                        "first, e.g. X.toarray().")
    X = as_array(X, "X")
    if X.ndim < 2:
        raise ValueError(f"X must hold one sample per row (shape (n_samples, ...)), got shape "
                         f"{X.shape}. Reshape a single feature with X.reshape(-1, 1).")
    y = column_or_1d(as_array(y, "y"), warn=True)
    check_consistent_length(X, y)
    check_classification_targets(y)
    classes = np.unique(y)
    if classes.size < 2:
        raise ValueError(
            f"class_dimensions needs at least 2 classes, got {classes.size} "
            f"({classes.tolist()}). For one set of samples, fit the estimator directly."
        )
    fitted = []
    for c in classes:
        try:
            fitted.append(clone(estimator).fit(X[y == c]))
        except ValueError as exc:
            raise ValueError(f"class {c.item()!r}: {exc}") from exc
    pooled = clone(estimator).fit(X)
    fitted.append(pooled)
    return Bunch(
        classes=classes,
        dimensions=np.array([e.dimension_ for e in fitted[:-1]]),
        confidence_intervals=np.array([e.confidence_interval_ for e in fitted[:-1]]),
        n_samples=np.array([e.n_samples_fit_ for e in fitted[:-1]]),
        pooled_dimension=pooled.dimension_,
        pooled_confidence_interval=pooled.confidence_interval_,
        estimators=fitted,
    )
