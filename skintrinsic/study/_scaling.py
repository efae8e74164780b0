"""``scaling_study``: train on growing subsets of several datasets and relate the results.

The flow goes one way::

    datasets -> held-out split per dataset -> dataset properties (once per dataset, at
    one common size) -> training runs (dataset x N x repeat, through joblib) -> results
    frame -> the law (intervals clustered by dataset) and the correlation across datasets
"""

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, check_random_state

from ._correlation import correlate_across_datasets
from ._properties import (
    MAX_REFERENCE,
    as_datasets,
    dataset_properties,
    measure_dimensions,
    warn_if_biased,
)
from ._runs import REFERENCE_EPSILON, seeded, train_and_evaluate

_ATTACKS = ("fgsm", "pgd")
_LAWS = ("data", "representation", "free")


def _split(name, X, y, X_test, y_test, test_size, seed):
    """The training pool (indices into X) and the held-out set of one dataset."""
    from sklearn.model_selection import train_test_split

    if X_test is not None:
        X_test, y_test = np.asarray(X_test), np.asarray(y_test)
        if X_test.ndim == 0 or y_test.ndim != 1 or X_test.shape[0] != y_test.shape[0]:
            raise ValueError(
                f"X_test and y_test must hold one label per image; got X_test of shape "
                f"{X_test.shape} and y_test of shape {y_test.shape}.")
        return np.arange(len(y)), X_test, y_test
    try:
        pool, held_out = train_test_split(np.arange(len(y)), test_size=test_size, stratify=y,
                                          random_state=seed)
    except ValueError as exc:
        raise ValueError(f"{name}: cannot hold out a stratified test set ({exc}). Change "
                         "test_size or pass more images of each class.") from None
    return pool, X[held_out], y[held_out]


def _run(X, y, X_test, y_test, idx, *, dataset, size, repeat, seed, classifier, attacks, epsilon,
         bounds, representation, device, subset_estimators, verbose):
    """One row of the results: a net trained on one subset, probed on the held-out set."""
    row = {"dataset": dataset, "N": int(size), "repeat": int(repeat), "seed": int(seed)}
    if subset_estimators is not None:  # diagnostics: the properties of this very subset
        dim, ks = subset_estimators
        row["d_data_subset"] = float(measure_dimensions(
            X[idx], {"d": dim}, random_state=seed, device=device)["d"].dimension_)
        row["K_F_subset"] = float(seeded(ks, seed, device).fit(X[idx], y[idx]).sharpness_)
    probe, _, _ = train_and_evaluate(classifier, X[idx], y[idx], X_test, y_test, seed=seed,
                                     attacks=attacks, epsilons=[epsilon], bounds=bounds,
                                     representation=representation, device=device)
    row.update(probe)
    return row


def _check_options(attacks, law, sizes, n_repeats, smallest_pool):
    attacks = [attacks] if isinstance(attacks, str) else list(attacks)
    if not attacks or any(a not in _ATTACKS for a in attacks):
        raise ValueError(f"attacks must be a non-empty list of 'fgsm' / 'pgd', got {attacks!r}.")
    if law not in _LAWS:
        raise ValueError(f"law must be 'data', 'representation' or 'free', got {law!r}.")
    if not sizes or min(sizes) < 2 or max(sizes) > smallest_pool:
        raise ValueError(
            f"train_sizes must lie in [2, {smallest_pool}] (the smallest training pool: every "
            f"dataset is trained at the same sizes), got {sizes}. Lower the sizes or test_size.")
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be >= 1, got {n_repeats}.")
    return attacks


def _per_dataset(results, table, attacks):
    """The dataset table with each outcome averaged over the dataset's runs."""
    outcomes = ["test_loss", "test_accuracy", "d_repr"] + [
        f"{m}_{a}" for a in attacks for m in ("delta_loss", "relative_delta_loss",
                                              "delta_accuracy", "robust_accuracy")]
    means = results.groupby("dataset", sort=False)[outcomes].mean().reset_index()
    return table.merge(means, on="dataset", how="left")


def scaling_study(datasets, y=None, train_sizes=None, *, X_test=None, y_test=None,
                  test_size=0.25, n_repeats=1, classifier=None, dimension=None, sharpness=None,
                  n_reference=None, max_reference=MAX_REFERENCE, n_draws=20,
                  subset_properties=False, representation=None, law="data",
                  attacks=("fgsm", "pgd"), epsilon=REFERENCE_EPSILON, bounds="data", domain=None,
                  device=None, n_jobs=None, random_state=None, verbose=0):
    """Train on subsets of growing size of several datasets; relate the results to d_data and K_F.

    For each dataset a stratified test set is held out, and the rest is its
    training pool.  The dataset's properties are measured **once**, on the
    pool, at a size ``n_reference`` common to all datasets
    (:func:`dataset_properties`): d_data on a stratified reference sample, K_F
    as its mean over stratified subsets of that size.  Then, for every training
    size N and repeat, a stratified subset of N images is drawn from the pool
    and a fresh ``classifier`` is trained on it; the run records the test loss
    and accuracy, the intrinsic dimension of the network's representation
    (``d_repr``) and its loss and accuracy under each attack at ``epsilon``.

    The runs are independent and go through :class:`joblib.Parallel`
    (``n_jobs``, or any ``joblib.parallel_config``, including
    ``backend="dask"`` on a ``dask.distributed`` cluster).  Every run has its
    own seed drawn up front, so results do not depend on the backend.

    Parameters
    ----------
    datasets : dict or array-like
        ``name -> (X, y)`` or ``name -> (X, y, domain)``; or one image array
        ``X`` with its labels in ``y`` (the dataset is then named ``"data"``).
    y : array-like of shape (n_samples,), default=None
        Labels, when ``datasets`` is one array.
    train_sizes : sequence of int
        The training sizes N, the same for every dataset (at most the smallest
        training pool).
    X_test, y_test : array-like, default=None
        Held-out set, for a single dataset only.  None: a stratified
        ``test_size`` part of each dataset is held out.
    test_size : float or int, default=0.25
    n_repeats : int, default=1
        Subsets (and trainings) per dataset and size, each with its own seed.
    classifier : estimator, default=None
        A skorch-style classifier, cloned per run; None:
        ``skintrinsic.nets.ImageClassifier()``.  Its training budget (fixed
        epochs or fixed optimizer steps) moves the fitted slopes; see
        :ref:`scaling_laws`.
    dimension : IntrinsicDimension, default=None
        Measures d_data (None: the paper's MLE, k=20).
    sharpness : LabelSharpness, default=None
        Measures K_F (None: exact over all pairs).
    n_reference : int, default=None
        Images on which every dataset's properties are measured.  None: the
        smallest training pool, capped at ``max_reference``.
    max_reference : int, default=2000
    n_draws : int, default=20
        Subsets of ``n_reference`` images over which K_F is averaged.
    subset_properties : bool, default=False
        Also measure d_data and K_F on each training subset (columns
        ``d_data_subset``, ``K_F_subset``): a diagnostic of how they drift with
        N, not the properties the law uses.
    representation : dict, default=None
        Parameters of :class:`~skintrinsic.RepresentationDimension`.
    law : {"data", "representation", "free"}, default="data"
        The law fitted to the rows (``"representation"`` uses ``d_repr``).
    attacks : sequence of {"fgsm", "pgd"}, default=("fgsm", "pgd")
    epsilon : float, default=2/255
        Attack size as a fraction of the data range.
    bounds : "data" or (float, float), default="data"
        Clipping range of the attacks; ``"data"``: the range over all images.
    domain : str, default=None
        Domain of a single dataset (a mapping gives each its own).
    device : str, default=None
        Set as ``device`` on every estimator that has one.
    n_jobs : int, default=None
        Runs in parallel (joblib semantics).
    random_state : int, RandomState instance or None, default=None
        Draws the held-out splits, the reference samples and one seed per run.
    verbose : int, default=0

    Returns
    -------
    study : sklearn.utils.Bunch
        - ``datasets``: one row per dataset: its properties
          (:func:`dataset_properties`'s table: n_reference, d_data with its
          interval, K_F with the spread of its draws) and each outcome averaged
          over its runs;
        - ``results``: one row per (dataset, N, repeat): dataset, domain, N,
          repeat, seed, the dataset's d_data and K_F, d_repr, optimizer_steps
          (the training budget spent), test_loss, test_accuracy and per attack delta_loss_<a>,
          relative_delta_loss_<a> (the increase over the clean loss, in units
          of the clean loss), delta_accuracy_<a>, robust_accuracy_<a>;
        - ``law``: a :class:`~skintrinsic.ScalingLawRegressor` fitted to the
          results with intervals clustered by dataset (plain intervals, with a
          warning, for a single dataset);
        - ``correlation``: :func:`correlate_across_datasets` of K_F with the
          delta loss and the relative delta loss of each attack, one point per
          dataset (NaN with a warning for fewer than 3 datasets);
        - ``n_reference``, ``reference_indices``, ``train_indices``
          (dataset -> list of index arrays into that dataset's ``X``, in the
          order of its rows in ``results``).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skintrinsic import IntrinsicDimension, scaling_study
    >>> from skintrinsic.nets import ImageClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X.reshape(-1, 8, 8).astype("float32")
    >>> study = scaling_study(X[:300], y[:300], [30, 60], classifier=ImageClassifier(max_epochs=1),
    ...                       attacks=["fgsm"], dimension=IntrinsicDimension(k=10, n_bootstrap=10),
    ...                       n_draws=3, random_state=0)  # doctest: +SKIP
    >>> study.results[["N", "d_data", "K_F", "test_loss"]].shape  # doctest: +SKIP
    (2, 4)
    """
    from joblib import Parallel, delayed

    from ..scaling import ScalingLawRegressor

    if X_test is not None or y_test is not None:
        if (X_test is None) != (y_test is None):
            raise ValueError("Pass X_test and y_test together, or neither.")
        if y is None:
            raise ValueError("X_test and y_test go with a single dataset (X, y); for several "
                             "datasets a test set is held out of each (test_size).")
    items = as_datasets(datasets, y, domain=domain)
    rng = check_random_state(random_state)
    splits = {name: _split(name, X, lab, X_test, y_test, test_size, rng.randint(2**31 - 1))
              for name, X, lab, _ in items}
    sizes = [int(s) for s in np.atleast_1d(train_sizes)] if train_sizes is not None else []
    attacks = _check_options(attacks, law, sizes, n_repeats,
                             min(pool.size for pool, _, _ in splits.values()))
    if len(items) * len(sizes) * n_repeats < 2:
        raise ValueError("A law needs at least 2 runs: pass several train_sizes or n_repeats.")
    if bounds == "data":
        low = min(min(X.min(), splits[n][1].min()) for n, X, _, _ in items)
        high = max(max(X.max(), splits[n][1].max()) for n, X, _, _ in items)
        bounds = (float(low), float(high))

    props = dataset_properties(
        {name: (X[splits[name][0]], lab[splits[name][0]], dom) for name, X, lab, dom in items},
        n_reference=n_reference, max_reference=max_reference, dimension=dimension,
        sharpness=sharpness, n_draws=n_draws, random_state=rng, device=device, verbose=verbose)
    # reference rows as indices into each dataset's X, like the training subsets
    references = {name: splits[name][0][idx] for name, idx in props.reference_indices.items()}

    if classifier is None:
        from ..nets import ImageClassifier

        classifier = ImageClassifier()
    subset_estimators = None
    if subset_properties:
        from ..sharpness import LabelSharpness

        dim = next(iter(props.estimators[items[0][0]].values()))
        subset_estimators = (dim, LabelSharpness() if sharpness is None else sharpness)
        for size in sizes:
            warn_if_biased(dim, size, where=f"d_data_subset at N={size}")

    from ..datasets._subsets import stratified_subset

    tasks = []
    for name, X, lab, _ in items:
        pool = splits[name][0]
        for size in sizes:
            for repeat in range(n_repeats):
                seed = int(rng.randint(2**31 - 1))
                idx = np.sort(pool[stratified_subset(lab[pool], size, random_state=seed)])
                tasks.append((name, X, lab, size, repeat, seed, idx))
    # no torch thread setting here: it is process-global (racy under thread backends), and
    # joblib's loky workers and dask's nannies already cap OMP threads per worker process
    rows = Parallel(n_jobs=n_jobs, verbose=verbose)(
        delayed(_run)(X, lab, splits[name][1], splits[name][2], idx, dataset=name, size=size,
                      repeat=repeat, seed=seed, classifier=classifier, attacks=attacks,
                      epsilon=epsilon, bounds=bounds, representation=representation,
                      device=device, subset_estimators=subset_estimators, verbose=0)
        for name, X, lab, size, repeat, seed, idx in tasks)

    table = props.table
    results = pd.DataFrame(rows)
    results = results.drop(columns=["d_repr_ci_low", "d_repr_ci_high", "d_repr_layer"])
    joined = table[["dataset", "domain", "d_data", "K_F"]]
    results = joined.merge(results, on="dataset", how="right")
    front = ["dataset", "domain", "N", "repeat", "seed", "d_data", "K_F"]
    results = results[front + [c for c in results.columns if c not in front]]

    groups = results["dataset"] if len(items) > 1 else None
    if groups is None:
        import warnings

        from .._validation import user_stacklevel

        warnings.warn(
            "A single dataset: the law's intervals treat its runs as independent and say "
            "nothing about other datasets (d_data and K_F take one value). Study several "
            "datasets to estimate how the loss depends on them.", UserWarning,
            stacklevel=user_stacklevel())
    fitted_law = ScalingLawRegressor(law=law).fit(results, results["test_loss"], groups=groups)
    per_dataset = _per_dataset(results, table, attacks)
    outcomes = [f"{m}_{a}" for a in attacks for m in ("delta_loss", "relative_delta_loss")]
    correlation = correlate_across_datasets(per_dataset, "K_F", outcomes, random_state=rng)
    train_indices = {}
    for name, _, _, _, _, _, idx in tasks:
        train_indices.setdefault(name, []).append(idx)
    return Bunch(datasets=per_dataset, results=results, law=fitted_law, correlation=correlation,
                 n_reference=props.n_reference, reference_indices=references,
                 train_indices=train_indices)
