"""Dataset properties measured once per dataset, on samples of the same size for every dataset.

d_data and K_F are properties of a dataset, not of a training subset.  Both depend on
the number of images they are measured on (K_F is a maximum over pairs and grows with
it; the MLE of d is biased at small sizes), so every dataset of a study is measured at
the same size ``n_reference``: d_data on one stratified reference sample of that size,
K_F as its law over stratified subsets of that size
(:class:`~skintrinsic.LabelSharpness` with ``subsample_size``).
"""

import warnings

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.utils import Bunch, check_random_state

from .._validation import unique_labels, user_stacklevel
from ._runs import seeded

#: Default cap on the reference size: the exact passes stay a few seconds per dataset.
MAX_REFERENCE = 2000
#: The MLE's bias is small from about this many points per neighbour on (Levina & Bickel 2005).
POINTS_PER_NEIGHBOR = 10


def as_datasets(datasets, y=None, *, domain=None):
    """The study's datasets as a list of ``(name, X, y, domain)``.

    ``datasets`` is a mapping ``name -> (X, y)`` or ``(X, y, domain)``, or a single
    array ``X`` with its labels in ``y`` (named ``"data"``).
    """
    if y is not None:
        if isinstance(datasets, dict):
            raise TypeError("Pass either a mapping of datasets or X and y, not both.")
        datasets = {"data": (datasets, y) if domain is None else (datasets, y, domain)}
    elif not isinstance(datasets, dict):
        raise TypeError(
            f"datasets must be a mapping name -> (X, y) or (X, y, domain), got "
            f"{type(datasets).__name__}. For one dataset, pass X and y."
        )
    if not datasets:
        raise ValueError("datasets is empty; pass at least one name -> (X, y).")
    out = []
    for name, value in datasets.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"Dataset names must be non-empty strings, got {name!r}.")
        if not isinstance(value, (tuple, list)) or len(value) not in (2, 3):
            raise TypeError(
                f"datasets[{name!r}] must be (X, y) or (X, y, domain), got "
                f"{type(value).__name__}{'' if not hasattr(value, '__len__') else ' of length '}"
                f"{len(value) if hasattr(value, '__len__') else ''}."
            )
        X, labels = np.asarray(value[0]), np.asarray(value[1])
        dom = value[2] if len(value) == 3 else domain
        if X.ndim < 2 or labels.ndim != 1 or X.shape[0] != labels.shape[0]:
            raise ValueError(
                f"datasets[{name!r}]: X of shape {X.shape} and y of shape {labels.shape}; pass "
                "images (n, ...) with one label per image."
            )
        if len(unique_labels(labels)) < 2:
            raise ValueError(f"datasets[{name!r}] holds a single class; a study needs two "
                             "classes or more per dataset.")
        out.append((name, X, labels, dom))
    return out


def reference_size(sizes, n_reference=None, max_reference=MAX_REFERENCE):
    """The common measuring size: ``n_reference``, or the smallest dataset capped."""
    smallest = int(min(sizes))
    if n_reference is None:
        return min(smallest, int(max_reference))
    if isinstance(n_reference, bool) or not isinstance(n_reference, (int, np.integer)):
        raise TypeError(f"n_reference must be an int or None, got {n_reference!r}.")
    if not 2 <= n_reference <= smallest:
        raise ValueError(
            f"n_reference={n_reference} must lie in [2, {smallest}], the size of the smallest "
            "dataset's pool, so that every dataset is measured at the same size. Lower it, or "
            "pass None for the smallest size."
        )
    return int(n_reference)


def warn_if_biased(estimator, n_samples, *, where):
    """Warn when an intrinsic-dimension estimator runs where it is known to be biased."""
    params = estimator.get_params(deep=False)
    if params.get("estimator") == "mle":
        k = params["k"]
        if n_samples < POINTS_PER_NEIGHBOR * k:
            warnings.warn(
                f"{where}: the MLE with k={k} on {n_samples} points is biased (its neighbourhoods "
                f"are not small against the data; the estimate drifts with the sample size). "
                f"Measure on at least {POINTS_PER_NEIGHBOR * k} points (10 k), or lower k.",
                UserWarning, stacklevel=user_stacklevel(),
            )


def _dimension_estimators(dimension):
    from ..dimension import IntrinsicDimension

    if dimension is None:
        return {"MLE (k=20)": IntrinsicDimension()}
    if isinstance(dimension, dict):
        if not dimension:
            raise ValueError("dimension is an empty dict; pass at least one estimator.")
        return dict(dimension)
    return {_label(dimension): dimension}


def _label(estimator):
    params = estimator.get_params(deep=False)
    name = params.get("estimator")
    if name == "mle":
        return f"MLE (k={params['k']})"
    return "TwoNN" if name == "twonn" else str(name or type(estimator).__name__)


def _shares_graph(estimators):
    """Whether the estimators read only sorted neighbour distances (one graph serves all)."""
    from ..dimension import IntrinsicDimension

    return all(type(e) is IntrinsicDimension and e.estimator in ("mle", "twonn")
               and e.neighbors in ("exact", "auto") for e in estimators.values())


def measure_dimensions(X, estimators, *, random_state, device=None, verbose=0):
    """Fit every estimator on ``X``; one exact neighbour pass when they share it."""
    from .._neighbors import find_duplicates, kneighbors_graph, take_rows

    flat = np.asarray(X).reshape(len(X), -1)
    fitted = {}
    if _shares_graph(estimators):
        info = find_duplicates(flat)
        distinct = take_rows(flat, info.keep)
        k = max(e._n_neighbors() for e in estimators.values())
        graph = kneighbors_graph(distinct, min(k, distinct.shape[0] - 1), device=device or "cpu",
                                 verbose=verbose)
        for label, est in estimators.items():
            est = clone(est).set_params(neighbors="precomputed", random_state=random_state)
            if device is not None:
                est.set_params(device=device)
            fitted[label] = est.fit(graph)
            fitted[label].n_duplicates_ = info.n_duplicates
        return fitted
    for label, est in estimators.items():
        fitted[label] = seeded(est, random_state, device).fit(X)
    return fitted


def dataset_properties(datasets, y=None, *, n_reference=None, max_reference=MAX_REFERENCE,
                       dimension=None, sharpness=None, n_draws=20, random_state=None,
                       device=None, verbose=0):
    """d_data and K_F of each dataset, measured once and at the same size for all.

    Parameters
    ----------
    datasets : dict or array-like
        ``name -> (X, y)`` or ``name -> (X, y, domain)``; or one ``X`` with ``y``.
    y : array-like, default=None
        Labels when ``datasets`` is a single ``X``.
    n_reference : int, default=None
        Images per dataset on which d_data and K_F are measured.  None: the smallest
        dataset's size, capped at ``max_reference``.
    max_reference : int, default=2000
        Cap on the automatic ``n_reference``.
    dimension : IntrinsicDimension or dict of str to estimator, default=None
        Measures d_data (None: the paper's MLE, k=20).  A dict measures several
        (e.g. MLE and TwoNN, read from one neighbour graph); the first one is the
        ``d_data`` column.
    sharpness : LabelSharpness, default=None
        Measures K_F (None: exact, all pairs); cloned with
        ``subsample_size=n_reference`` and ``n_subsamples=n_draws``.
    n_draws : int, default=20
        Subsets of ``n_reference`` images over which K_F's law is drawn (one, the
        exact value, for a dataset of exactly ``n_reference`` images).
    random_state : int, RandomState instance or None, default=None
        Draws each dataset's reference sample and K_F subsets.
    device : str, default=None
        Set on the estimators when given.
    verbose : int, default=0

    Returns
    -------
    result : sklearn.utils.Bunch
        - ``table``: one row per dataset: dataset, domain, n_available,
          n_reference, d_data, d_data_ci_low, d_data_ci_high, K_F (mean over
          the draws), K_F_std, K_F_q05, K_F_q50, K_F_q95, n_draws;
        - ``measures``: the same, tidy (dataset, quantity, method, value,
          ci_low, ci_high), one row per dimension estimator and one for K_F
          (its interval is the 5-95 % range of the draws);
        - ``n_reference``: the common size;
        - ``reference_indices``: name -> rows of the reference sample;
        - ``local_dimensions``: name -> local dimensions of the first
          estimator on the reference sample;
        - ``estimators``: name -> {label: fitted estimator, "K_F": fitted
          LabelSharpness}.

    Examples
    --------
    >>> import numpy as np
    >>> from skintrinsic import IntrinsicDimension
    >>> from skintrinsic.study import dataset_properties
    >>> rng = np.random.default_rng(0)
    >>> small = (rng.normal(size=(120, 6)), np.repeat([0, 1], 60))
    >>> large = (rng.normal(size=(400, 6)), np.repeat([0, 1], 200))
    >>> props = dataset_properties({"small": small, "large": large}, n_draws=5,
    ...                            dimension=IntrinsicDimension(k=5, n_bootstrap=40),
    ...                            random_state=0)
    >>> props.table[["dataset", "n_available", "n_reference", "n_draws"]]
      dataset  n_available  n_reference  n_draws
    0   small          120          120        1
    1   large          400          120        5
    """
    from ..datasets._subsets import stratified_subset
    from ..sharpness import LabelSharpness

    items = as_datasets(datasets, y)
    n_ref = reference_size([len(lab) for _, _, lab, _ in items], n_reference, max_reference)
    estimators = _dimension_estimators(dimension)
    sharpness = LabelSharpness() if sharpness is None else sharpness
    rng = check_random_state(random_state)
    rows, measures, references, local, fitted_all = [], [], {}, {}, {}
    for name, X, labels, dom in items:
        seed = int(rng.randint(2**31 - 1))
        ref = stratified_subset(labels, n_ref, random_state=seed)
        references[name] = ref
        for est in estimators.values():
            warn_if_biased(est, n_ref, where=f"d_data of {name!r}")
        fitted = measure_dimensions(X[ref], estimators, random_state=seed, device=device,
                                    verbose=verbose)
        ks = clone(sharpness).set_params(subsample_size=n_ref, n_subsamples=n_draws,
                                         random_state=seed)
        if device is not None:
            ks.set_params(device=device)
        ks.fit(X, labels)
        first = next(iter(fitted.values()))
        q = ks.sharpness_quantiles_
        rows.append({
            "dataset": name, "domain": dom, "n_available": int(len(labels)),
            "n_reference": n_ref, "d_data": first.dimension_,
            "d_data_ci_low": first.confidence_interval_[0],
            "d_data_ci_high": first.confidence_interval_[1],
            "K_F": ks.sharpness_, "K_F_std": ks.sharpness_std_, "K_F_q05": q[0.05],
            "K_F_q50": q[0.5], "K_F_q95": q[0.95], "n_draws": ks.sharpness_draws_.size,
        })
        for label, est in fitted.items():
            measures.append(_measure(name, "d_data", label, est.dimension_,
                                     est.confidence_interval_, n_ref))
        method = (f"exact, all {n_ref} images" if ks.sharpness_draws_.size == 1 else
                  f"mean over {ks.sharpness_draws_.size} subsets of {n_ref}")
        measures.append(_measure(name, "K_F", method, ks.sharpness_, (q[0.05], q[0.95]), n_ref))
        local[name] = first.local_dimensions_
        fitted_all[name] = {**fitted, "K_F": ks}
    return Bunch(table=pd.DataFrame(rows), measures=pd.DataFrame(measures), n_reference=n_ref,
                 reference_indices=references, local_dimensions=local, estimators=fitted_all)


def _measure(dataset, quantity, method, value, ci, n):
    return {"dataset": dataset, "quantity": quantity, "method": method, "value": float(value),
            "ci_low": float(ci[0]), "ci_high": float(ci[1]), "n_reference": int(n)}
