"""Correlation across datasets: one point per dataset, with intervals over datasets.

The paper's robustness claim is about datasets: a dataset with a higher K_F gives
networks that lose more under attack.  Its evidence is one point per dataset, so the
correlation is computed on one point per dataset, and its uncertainty comes from
resampling datasets (a bootstrap over datasets) and from permuting them (an exact
permutation test when there are few).  Correlating the runs of one dataset across N
would measure something else (how robustness changes with training size), and runs
of the same dataset are not independent draws of the dataset-level relation.
"""

import itertools
import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from .._validation import user_stacklevel

#: Fewest datasets for which a correlation is computed.
MIN_DATASETS = 3
#: Up to this many datasets the permutation test enumerates every permutation.
_EXACT_PERMUTATIONS = 8


def _statistic(method, x, y):
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan
    if method == "pearson":
        return float(stats.pearsonr(x, y).statistic)
    return float(stats.spearmanr(x, y).statistic)


def _permutation_pvalue(method, x, y, observed, n_permutations, rng):
    """Two-sided p-value of ``|r| >= |observed|`` under exchangeable datasets."""
    n = x.size
    if n <= _EXACT_PERMUTATIONS:
        values = [_statistic(method, x, y[list(p)]) for p in itertools.permutations(range(n))]
    else:
        values = [_statistic(method, x, y[rng.permutation(n)]) for _ in range(n_permutations)]
        values.append(observed)  # the observed order counts once (Phipson & Smyth 2010)
    values = np.asarray(values)
    return float(np.mean(np.abs(values) >= abs(observed) - 1e-12))


def _bootstrap_interval(method, x, y, n_bootstrap, level, rng):
    """Percentile interval of r over datasets resampled with replacement."""
    n = x.size
    values = []
    for _ in range(n_bootstrap):
        idx = rng.randint(n, size=n)
        values.append(_statistic(method, x[idx], y[idx]))
    values = np.asarray(values)
    values = values[np.isfinite(values)]  # resamples of one repeated dataset have no r
    if values.size < 10:
        return np.nan, np.nan
    tail = (1 - level) / 2
    return tuple(float(v) for v in np.quantile(values, [tail, 1 - tail]))


def correlate_across_datasets(table, x, ys, *, n_bootstrap=2000, n_permutations=10000,
                              confidence_level=0.95, random_state=None):
    """Pearson and Spearman correlations of ``x`` with each of ``ys``, one point per dataset.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per dataset.
    x : str
        Column of the dataset property (e.g. ``"K_F"``).
    ys : sequence of str
        Columns of the outcomes (e.g. ``"delta_loss_fgsm"``).
    n_bootstrap : int, default=2000
        Resamples of the datasets for the percentile interval.
    n_permutations : int, default=10000
        Random permutations for the p-value when there are more than 8
        datasets (up to 8, all permutations are enumerated: the exact test).
    confidence_level : float, default=0.95
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    frame : pandas.DataFrame
        One row per (outcome, method): x, y, method, r, ci_low, ci_high,
        pvalue (permutation), n_datasets.  All NaN, with a warning, for fewer
        than 3 datasets.

    Examples
    --------
    >>> import pandas as pd
    >>> from skintrinsic.study import correlate_across_datasets
    >>> table = pd.DataFrame({"K_F": [1.0, 2.0, 3.0, 4.0], "loss": [0.1, 0.3, 0.2, 0.5]})
    >>> c = correlate_across_datasets(table, "K_F", ["loss"], random_state=0)
    >>> c[["method", "r", "pvalue", "n_datasets"]].round(3)
         method      r  pvalue  n_datasets
    0   pearson  0.832   0.250           4
    1  spearman  0.800   0.333           4
    """
    from sklearn.utils import check_random_state

    rng = check_random_state(random_state)
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be a pandas DataFrame with one row per dataset, got "
                        f"{type(table).__name__}.")
    ys = [ys] if isinstance(ys, str) else list(ys)
    missing = [c for c in [x, *ys] if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks the columns {missing}; its columns are "
                         f"{list(table.columns)[:10]}. Pass the names of the property and of "
                         "the outcomes.")
    n = len(table)
    rows = []
    if n < MIN_DATASETS:
        warnings.warn(
            f"The correlation across datasets needs at least {MIN_DATASETS} datasets (one point "
            f"each), got {n}; it is NaN. Add datasets: the runs of one dataset are not "
            "independent points of the relation.", UserWarning, stacklevel=user_stacklevel())
    xv = table[x].to_numpy(dtype=float) if n else np.array([])
    for y in ys:
        yv = table[y].to_numpy(dtype=float) if n else np.array([])
        ok = np.isfinite(xv) & np.isfinite(yv)
        for method in ("pearson", "spearman"):
            row = {"x": x, "y": y, "method": method, "r": np.nan, "ci_low": np.nan,
                   "ci_high": np.nan, "pvalue": np.nan, "n_datasets": int(ok.sum())}
            if ok.sum() >= MIN_DATASETS:
                r = _statistic(method, xv[ok], yv[ok])
                if math.isfinite(r):
                    low, high = _bootstrap_interval(method, xv[ok], yv[ok], n_bootstrap,
                                                    confidence_level, rng)
                    p = _permutation_pvalue(method, xv[ok], yv[ok], r, n_permutations, rng)
                    row.update(r=r, ci_low=low, ci_high=high, pvalue=p)
            rows.append(row)
    return pd.DataFrame(rows, columns=["x", "y", "method", "r", "ci_low", "ci_high", "pvalue",
                                       "n_datasets"])
