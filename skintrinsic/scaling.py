"""Generalization laws in log space (:class:`ScalingLawRegressor`) and the training-size study.

The laws of Konz & Mazurowski (ICLR 2024), with L the test loss (mean
cross-entropy per sample), N the number of training images, d an intrinsic
dimension and K_F the label sharpness::

    law="data":            log L = -(1/d_data) log N + log K_F + a
    law="representation":  log L = -(1/d_repr) log N + b

Both are linear in the terms ``log N / d`` and ``log K_F``, so they are fitted
by ordinary least squares in log space: the coefficients the paper fixes stay
fixed and only the free ones are estimated, with the classical OLS standard
errors and t-distribution confidence intervals.
"""

import numbers
import threading

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context, clone
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._validation import unique_labels, validate_numeric

__all__ = ["ScalingLawRegressor", "scaling_study"]

_DEFAULT_COLUMNS = ("n_train", "dimension", "sharpness")
_TERMS = ("log_n_over_d", "log_sharpness")


def _law_design(log_n_over_d, log_k, *, law, fit_multiplier):
    """Split the log-space law into its fitted part and its fixed part.

    Returns ``(A, offset, terms, fixed)``: the design matrix of the fitted
    terms (intercept last), the part of log L fixed by the law, the names of
    all terms of the law, and for each term its fixed value (NaN when fitted).
    """
    n = log_n_over_d.shape[0]
    terms = list(_TERMS[:1] if (law == "representation" or log_k is None) else _TERMS)
    paper = {"log_n_over_d": -1.0, "log_sharpness": 1.0}
    values = {"log_n_over_d": log_n_over_d, "log_sharpness": log_k}
    free = {
        "log_n_over_d": law == "free" or fit_multiplier,
        "log_sharpness": law == "free",
    }
    columns, offset, fixed = [], np.zeros(n), []
    for term in terms:
        if free[term]:
            columns.append(values[term])
            fixed.append(np.nan)
        else:
            offset = offset + paper[term] * values[term]
            fixed.append(paper[term])
    columns.append(np.ones(n))
    return np.column_stack(columns), offset, terms, np.asarray(fixed)


def _check_n_columns(n_columns):
    if n_columns not in (2, 3):
        raise ValueError(
            f"ScalingLawRegressor expects 2 or 3 columns (n_train, dimension[, sharpness]), "
            f"got {n_columns}. Pass a DataFrame with those columns or set columns=."
        )


class ScalingLawRegressor(RegressorMixin, BaseEstimator):
    """Fit the paper's generalization law ``log L ~ -(1/d) log N [+ log K_F] + const`` in log space.

    The law is linear in the terms ``log N / d`` and ``log K_F``.  The paper
    fixes their coefficients at ``-1`` and ``+1``; this regressor estimates
    what the law leaves free (always the intercept, optionally the coefficients)
    by ordinary least squares on ``log L`` and reports classical standard errors
    and t-distribution confidence intervals.  Fitting ``law="free"`` and
    checking whether ``-1`` and ``+1`` fall inside ``coef_ci_`` tests the
    paper's fixed coefficients against data.

    Parameters
    ----------
    law : {"data", "representation", "free"}, default="data"
        - ``"data"``: ``log L = -(1/d_data) log N + log K_F + a`` (needs the
          sharpness column); only ``a`` is fitted.
        - ``"representation"``: ``log L = -(1/d_repr) log N + b``; only ``b``
          is fitted.  A sharpness column, if present, is not used.
        - ``"free"``: ``log L = c1 log N / d + c2 log K_F + c0`` with all of
          ``c1, c2, c0`` fitted (``c2`` only when a sharpness column is given).
    fit_multiplier : bool, default=False
        For ``law="data"`` and ``"representation"``: also fit the coefficient
        on ``log N / d`` (the paper's ``-1``, i.e. an optional multiplier on
        ``1/d``) instead of fixing it.  Ignored by ``law="free"``, which always
        fits it.
    columns : sequence of 2 or 3 str or int, default=None
        Which columns of ``X`` hold N, d and (optionally) K_F, in that order:
        names for a DataFrame, positions for an array.  ``None`` takes the
        columns named ``"n_train"``, ``"dimension"`` and ``"sharpness"`` from a
        DataFrame that has them, and otherwise all columns of ``X`` in that
        order.  For the frame of :func:`scaling_study` use
        ``columns=("N", "d_data", "K_F")`` or ``("N", "d_repr")``.
    confidence_level : float, default=0.95
        Level of the two-sided t intervals in ``coef_ci_`` and ``intercept_ci_``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_terms,)
        Coefficients of the law on ``terms_`` (fixed ones at their paper value).
    intercept_ : float
        The fitted constant (``a`` or ``b``).
    coef_se_ : ndarray of shape (n_terms,)
        Standard errors of ``coef_``; NaN for coefficients the law fixes.
    intercept_se_ : float
        Standard error of ``intercept_``.
    coef_ci_ : ndarray of shape (n_terms, 2)
        Confidence intervals of ``coef_`` (NaN rows for fixed coefficients).
    intercept_ci_ : ndarray of shape (2,)
        Confidence interval of ``intercept_``.
    fitted_terms_ : ndarray of bool of shape (n_terms,)
        Which entries of ``coef_`` were estimated.
    terms_ : list of str
        ``["log_n_over_d"]`` or ``["log_n_over_d", "log_sharpness"]``.
    covariance_ : ndarray of shape (n_fitted, n_fitted)
        Covariance of the fitted coefficients (fitted ``coef_`` entries, then
        the intercept).
    sigma_ : float
        Residual standard deviation of ``log L``.
    dof_ : int
        Residual degrees of freedom, ``n_samples - n_fitted``.
    summary_ : pandas.DataFrame
        One row per term and the intercept: estimate, std_error, ci_low,
        ci_high, fitted.
    n_features_in_ : int
        Number of columns used (2 or 3).
    feature_names_in_ : ndarray of str
        Names of the columns used, when ``X`` is a DataFrame.

    Notes
    -----
    ``predict`` returns the loss ``L`` (not ``log L``); ``score`` is the
    coefficient of determination R² of ``log L``, the space in which the law is
    linear and fitted.  Inputs must be positive: ``N >= 1``, ``d > 0``,
    ``K_F > 0`` and ``L > 0``.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from skintrinsic import ScalingLawRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"n_train": rng.integers(500, 2000, 40),
    ...                   "dimension": rng.uniform(8, 20, 40),
    ...                   "sharpness": rng.uniform(1e-4, 4e-4, 40)})
    >>> L = np.exp(-np.log(X.n_train) / X.dimension + np.log(X.sharpness) + 8.0)
    >>> law = ScalingLawRegressor(law="data").fit(X, L)
    >>> round(law.intercept_, 6)
    8.0
    >>> law.coef_
    array([-1.,  1.])
    """

    _parameter_constraints = {
        "law": [StrOptions({"data", "representation", "free"})],
        "fit_multiplier": ["boolean"],
        "columns": [list, tuple, None],
        "confidence_level": [Interval(numbers.Real, 0, 1, closed="neither")],
    }

    def __init__(self, law="data", *, fit_multiplier=False, columns=None, confidence_level=0.95):
        self.law = law
        self.fit_multiplier = fit_multiplier
        self.columns = columns
        self.confidence_level = confidence_level

    def _select(self, X):
        """Pick the N, d[, K_F] columns of ``X`` (a DataFrame keeps its names)."""
        if self.columns is not None:
            cols = list(self.columns)
            if len(cols) not in (2, 3):
                raise ValueError(
                    f"columns must name 2 or 3 columns (N, d[, K_F]), got {len(cols)}: {cols!r}."
                )
            if hasattr(X, "iloc"):
                missing = [c for c in cols if c not in X.columns]
                if missing:
                    raise ValueError(
                        f"columns {missing!r} are not in X, whose columns are {list(X.columns)!r}. "
                        "Set columns= to the names of the N, d[, K_F] columns."
                    )
                return X[cols]
            return np.asarray(X)[:, cols] if np.ndim(X) == 2 else X
        if hasattr(X, "iloc"):
            present = [c for c in _DEFAULT_COLUMNS if c in X.columns]
            if present[:2] == list(_DEFAULT_COLUMNS[:2]):
                return X[present]
            _check_n_columns(X.shape[1])
        return X

    def _log_terms(self, X):
        """Validate the values of N, d[, K_F] and return ``log N / d`` and ``log K_F``."""
        _check_n_columns(X.shape[1])
        if np.any(X < 0):
            raise ValueError(
                "Negative values in data passed to ScalingLawRegressor: n_train, dimension and "
                "sharpness must be positive. Check the column order (N, d[, K_F])."
            )
        n, d = X[:, 0], X[:, 1]
        if np.any(n < 1):
            raise ValueError(
                f"n_train must be >= 1 (log N is taken), got min {n.min():g}. "
                "Pass the number of training samples in the first column."
            )
        if np.any(d <= 0):
            raise ValueError(
                f"dimension must be > 0 (1/d is taken), got min {d.min():g}. "
                "Pass the intrinsic dimension in the second column."
            )
        log_k = None
        if X.shape[1] == 3:
            if np.any(X[:, 2] <= 0):
                raise ValueError(
                    f"sharpness must be > 0 (log K_F is taken), got min {X[:, 2].min():g}. "
                    "Pass the label sharpness K_F in the third column."
                )
            log_k = np.log(X[:, 2])
        if self.law == "data" and log_k is None:
            raise ValueError(
                'law="data" needs a sharpness column (K_F): pass 3 columns (n_train, dimension, '
                'sharpness), or use law="representation".'
            )
        return np.log(n) / d, log_k

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit the law's free constants by least squares on ``log y``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, 2 or 3)
            N, d and optionally K_F (see ``columns``).
        y : array-like of shape (n_samples,)
            Test losses, all > 0.

        Returns
        -------
        self : ScalingLawRegressor
            The fitted regressor.
        """
        X, y = validate_numeric(self, self._select(X), y, dtype=np.float64, y_numeric=True)
        log_n_over_d, log_k = self._log_terms(X)
        if np.any(y <= 0):
            raise ValueError(
                f"The loss y must be > 0 (log L is taken), got min {y.min():g}. "
                "Pass the mean test cross-entropy, not a log loss or a difference."
            )
        A, offset, terms, fixed = _law_design(
            log_n_over_d, log_k, law=self.law, fit_multiplier=self.fit_multiplier
        )
        n, p = A.shape
        if n <= p:
            raise ValueError(
                f"Fitting {p} free constant(s) with confidence intervals needs more than {p} "
                f"samples, got n_samples = {n} ({n} sample(s)). Add runs (training sizes or seeds)."
            )
        response = np.log(y) - offset
        beta, _, rank, _ = np.linalg.lstsq(A, response, rcond=None)
        if rank < p:
            raise ValueError(
                f"The law's terms are collinear on this data (rank {rank} < {p}): with "
                f"law={self.law!r} the values of log N / d (and log K_F) must vary across samples. "
                "Vary N or d, or fix the coefficients (law='data' or 'representation')."
            )
        residual = response - A @ beta
        dof = n - p
        sigma2 = float(residual @ residual) / dof
        # (A^T A)^-1 = V S^-2 V^T from the SVD of A, without forming A^T A
        _, sv, vt = np.linalg.svd(A, full_matrices=False)
        cov = sigma2 * ((vt.T / sv**2) @ vt)
        se = np.sqrt(np.diag(cov))
        half = stats.t.ppf(0.5 + self.confidence_level / 2, dof) * se

        fitted = np.isnan(fixed)
        self.terms_ = terms
        self.fitted_terms_ = fitted
        self.coef_ = fixed.copy()
        self.coef_[fitted] = beta[:-1]
        self.coef_se_ = np.full(len(terms), np.nan)
        self.coef_se_[fitted] = se[:-1]
        self.coef_ci_ = np.full((len(terms), 2), np.nan)
        self.coef_ci_[fitted] = np.column_stack([beta[:-1] - half[:-1], beta[:-1] + half[:-1]])
        self.intercept_ = float(beta[-1])
        self.intercept_se_ = float(se[-1])
        self.intercept_ci_ = np.array([beta[-1] - half[-1], beta[-1] + half[-1]])
        self.covariance_ = cov
        self.sigma_ = float(np.sqrt(sigma2))
        self.dof_ = int(dof)
        self.summary_ = pd.DataFrame(
            {
                "estimate": np.append(self.coef_, self.intercept_),
                "std_error": np.append(self.coef_se_, self.intercept_se_),
                "ci_low": np.append(self.coef_ci_[:, 0], self.intercept_ci_[0]),
                "ci_high": np.append(self.coef_ci_[:, 1], self.intercept_ci_[1]),
                "fitted": np.append(fitted, True),
            },
            index=pd.Index(terms + ["intercept"], name="term"),
        )
        return self

    def _inputs(self, X):
        """The validated (N, d[, K_F]) columns of ``X`` as a float array (also used by plots)."""
        check_is_fitted(self)
        return validate_numeric(self, self._select(X), dtype=np.float64, reset=False)

    def predict_log(self, X):
        """Predicted ``log L`` for new (N, d[, K_F]).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, 2 or 3)
            N, d and optionally K_F, in the columns used in ``fit``.

        Returns
        -------
        log_loss : ndarray of shape (n_samples,)
            Natural log of the predicted test loss.
        """
        log_n_over_d, log_k = self._log_terms(self._inputs(X))
        out = self.intercept_ + self.coef_[0] * log_n_over_d
        if len(self.terms_) == 2:
            out = out + self.coef_[1] * log_k
        return out

    def predict(self, X):
        """Predicted test loss ``L`` (not its log) for new (N, d[, K_F]).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, 2 or 3)
            N, d and optionally K_F, in the columns used in ``fit``.

        Returns
        -------
        loss : ndarray of shape (n_samples,)
            Predicted mean cross-entropy, ``exp(predict_log(X))``.
        """
        return np.exp(self.predict_log(X))

    def score(self, X, y, sample_weight=None):
        """R² of ``log L``: how much of the variance of the log loss the law explains.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, 2 or 3)
            N, d and optionally K_F, in the columns used in ``fit``.
        y : array-like of shape (n_samples,)
            Test losses, all > 0.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in R².

        Returns
        -------
        score : float
            ``r2_score(log(y), log(predict(X)))``.
        """
        y = np.asarray(y, dtype=np.float64)
        if np.any(y <= 0):
            raise ValueError(
                f"The loss y must be > 0 to be scored in log space, got min {y.min():g}."
            )
        return r2_score(np.log(y), self.predict_log(X), sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.target_tags.positive_only = True
        return tags


# ---- the training-size study ---------------------------------------------------------------

def _seeded(estimator, seed, device):
    """A clone of ``estimator`` with its ``random_state`` (and ``device``, when given) set."""
    estimator = clone(estimator)
    params = estimator.get_params(deep=False)
    if "random_state" in params:
        estimator.set_params(random_state=seed)
    if device is not None and "device" in params:
        estimator.set_params(device=device)
    return estimator


_TORCH_RNG_LOCK = threading.RLock()


def _study_run(X, y, X_test, y_test, train_idx, *, size, repeat, seed, classifier, dimension,
               sharpness, representation, attacks, epsilon, bounds, device):
    """One row of the study: properties of one training subset and of the net trained on it."""
    from .representation import RepresentationDimension
    from .robustness import robustness_curve

    import torch

    X_sub, y_sub = X[train_idx], y[train_idx]
    row = {"N": int(size), "repeat": int(repeat), "seed": int(seed)}
    # torch's RNG is global to the process: runs sharing a process (thread backends) take turns,
    # so that each run's seeded draws are its own and the results match a serial study
    devices = list(range(torch.cuda.device_count()))
    with _TORCH_RNG_LOCK, torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)  # skorch nets without a random_state initialize from torch's RNG
        row["d_data"] = float(_seeded(dimension, seed, device).fit(X_sub).dimension_)
        row["K_F"] = float(_seeded(sharpness, seed, device).fit(X_sub, y_sub).sharpness_)
        net = _seeded(classifier, seed, device).fit(X_sub, y_sub)
        repr_params = {"prefit": True, **(representation or {})}
        rd = RepresentationDimension(net, **repr_params)
        if "random_state" in rd.get_params(deep=False):
            rd.set_params(random_state=seed)
        row["d_repr"] = float(rd.fit(X_sub, y_sub).dimension_)
        for attack in attacks:
            curve = robustness_curve(net, X_test, y_test, [epsilon], attack=attack, bounds=bounds,
                                     random_state=seed).iloc[0]
            row["test_loss"] = float(curve["clean_loss"])
            row["test_accuracy"] = float(curve["clean_accuracy"])
            for metric in ("delta_loss", "delta_accuracy", "robust_accuracy"):
                row[f"{metric}_{attack}"] = float(curve[metric])
    return row


def scaling_study(X, y, train_sizes, *, X_test=None, y_test=None, test_size=0.25, n_repeats=1,
                  classifier=None, dimension=None, sharpness=None, representation=None,
                  law="data", attacks=("fgsm", "pgd"), epsilon=2 / 255, bounds="data",
                  domain=None, device=None, n_jobs=None, random_state=None, verbose=0):
    """Train on subsets of growing size and measure d_data, K_F, d_repr, test loss and robustness.

    For every training size N and repeat, a stratified random subset of N
    training images is drawn; on exactly that subset the study measures the
    intrinsic dimension ``d_data`` (``dimension``) and label sharpness ``K_F``
    (``sharpness``), trains a fresh ``classifier``, measures the intrinsic
    dimension of its penultimate representation on its own training set
    (``d_repr``), its test loss (mean cross-entropy) and accuracy, and its loss
    and accuracy under FGSM and PGD at ``epsilon``.  A
    :class:`ScalingLawRegressor` is then fitted to the rows and K_F is
    correlated with the FGSM loss increase (Pearson's r, as in the paper).

    The runs are independent and go through :class:`joblib.Parallel`, so
    ``n_jobs`` and any active ``joblib.parallel_config`` apply, including
    ``parallel_config(backend="dask")`` on a ``dask.distributed`` cluster.
    Every run has its own seed drawn up front from ``random_state``: the
    results do not depend on the backend or on ``n_jobs``.  Training draws
    from torch's process-wide RNG, so runs that share a process (thread-based
    backends) take turns; process-based backends (joblib's default loky,
    dask workers with ``processes=True``) run them side by side.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Images (any trailing shape the classifier accepts).
    y : array-like of shape (n_samples,)
        Class labels.
    train_sizes : sequence of int
        The training sizes N.
    X_test, y_test : array-like, default=None
        Held-out set.  When None, a stratified ``test_size`` part of ``X`` is
        held out first and the subsets are drawn from the rest.
    test_size : float or int, default=0.25
        Used only when ``X_test`` is None.
    n_repeats : int, default=1
        Subsets (and trainings) per size, each with its own seed.
    classifier : estimator, default=None
        A skorch-style classifier (with ``module_`` after fit); cloned for
        each run.  None: ``skintrinsic.nets.ImageClassifier()``.
    dimension : estimator, default=None
        Measures ``d_data``; None: ``IntrinsicDimension()`` (MLE, k=20).
    sharpness : estimator, default=None
        Measures ``K_F``; None: ``LabelSharpness()`` (exact, all pairs).
    representation : dict, default=None
        Extra parameters of :class:`~skintrinsic.RepresentationDimension`
        (e.g. ``{"layers": ...}``); it runs with ``prefit=True``.
    law : {"data", "representation", "free"}, default="data"
        The law fitted to the rows (``"representation"`` uses ``d_repr``).
    attacks : sequence of {"fgsm", "pgd"}, default=("fgsm", "pgd")
    epsilon : float, default=2/255
        Attack size as a fraction of the data range (the paper's 2/255).
    bounds : "data" or (float, float), default="data"
        Clipping range of the attacks; ``"data"`` is the min and max over
        ``X`` and ``X_test``.
    domain : str, default=None
        Written in a ``domain`` column (e.g. "medical") to pool studies later.
    device : str, default=None
        When given, set as ``device`` on every estimator that has one.
    n_jobs : int, default=None
        Runs in parallel (joblib semantics).
    random_state : int, RandomState instance or None, default=None
        Draws the held-out split and one seed per run (subset, weights,
        estimators' own randomness, PGD's start).
    verbose : int, default=0
        Verbosity of joblib's progress messages.

    Returns
    -------
    result : sklearn.utils.Bunch
        - ``results``: DataFrame with one row per (N, repeat): N, repeat, seed,
          d_data, K_F, d_repr, test_loss, test_accuracy and, per attack,
          delta_loss_<attack>, delta_accuracy_<attack>, robust_accuracy_<attack>
          (and domain, when given);
        - ``law``: the fitted :class:`ScalingLawRegressor`;
        - ``correlation``: Bunch(r, pvalue, n) of :func:`scipy.stats.pearsonr`
          between K_F and the delta loss of the first attack;
        - ``train_indices``: for each row, the indices into ``X`` of its
          training subset.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skintrinsic import IntrinsicDimension, scaling_study
    >>> from skintrinsic.nets import ImageClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X.reshape(-1, 8, 8).astype("float32")
    >>> study = scaling_study(X[:200], y[:200], [30, 60], X_test=X[200:250], y_test=y[200:250],
    ...                       classifier=ImageClassifier(max_epochs=1), attacks=["fgsm"],
    ...                       dimension=IntrinsicDimension(k=10, n_bootstrap=10), random_state=0)
    >>> study.results[["N", "d_data", "K_F", "d_repr", "test_loss"]].shape
    (2, 5)
    >>> study.law.terms_
    ['log_n_over_d', 'log_sharpness']
    """
    from joblib import Parallel, delayed
    from sklearn.model_selection import train_test_split
    from sklearn.utils import Bunch, check_random_state

    from .dimension import IntrinsicDimension
    from .nets import stratified_subset
    from .sharpness import LabelSharpness

    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim == 0 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise ValueError(
            f"X has {X.shape[0] if X.ndim else 0} samples but y has shape {y.shape}; pass one "
            "label per image."
        )
    if len(unique_labels(y)) < 2:
        raise ValueError("y holds a single class; a study trains classifiers, which need two "
                         "classes or more.")
    attacks = [attacks] if isinstance(attacks, str) else list(attacks)
    if not attacks or any(a not in ("fgsm", "pgd") for a in attacks):
        raise ValueError(f"attacks must be a non-empty list of 'fgsm' / 'pgd', got {attacks!r}.")
    if law not in ("data", "representation", "free"):
        raise ValueError(f"law must be 'data', 'representation' or 'free', got {law!r}.")
    rng = check_random_state(random_state)
    if X_test is None:
        if y_test is not None:
            raise ValueError("y_test was given without X_test; pass them together, or neither.")
        pool, held_out = train_test_split(
            np.arange(X.shape[0]), test_size=test_size, stratify=y,
            random_state=rng.randint(2**31 - 1),
        )
        X_test, y_test = X[held_out], y[held_out]
    else:
        if y_test is None:
            raise ValueError("X_test was given without y_test; pass them together, or neither.")
        X_test, y_test = np.asarray(X_test), np.asarray(y_test)
        pool = np.arange(X.shape[0])
        if X_test.ndim == 0 or y_test.ndim != 1 or X_test.shape[0] != y_test.shape[0]:
            raise ValueError(
                f"X_test and y_test must hold one label per image; got X_test of shape "
                f"{X_test.shape} and y_test of shape {y_test.shape}.")
    sizes = [int(s) for s in np.atleast_1d(train_sizes)]
    if not sizes or min(sizes) < 2 or max(sizes) > pool.size:
        raise ValueError(
            f"train_sizes must lie in [2, {pool.size}] (the training pool), got {sizes}. "
            "Lower the sizes or test_size."
        )
    if len(sizes) * n_repeats < 2:
        raise ValueError("A law needs at least 2 runs: pass several train_sizes or n_repeats >= 2.")
    if bounds == "data":
        bounds = (float(min(X.min(), X_test.min())), float(max(X.max(), X_test.max())))

    if classifier is None:
        from .nets import ImageClassifier

        classifier = ImageClassifier()
    dimension = IntrinsicDimension() if dimension is None else dimension
    sharpness = LabelSharpness() if sharpness is None else sharpness

    tasks = []
    for size in sizes:
        for repeat in range(n_repeats):
            seed = int(rng.randint(2**31 - 1))
            idx = pool[stratified_subset(y[pool], size, random_state=seed)]
            tasks.append((size, repeat, seed, np.sort(idx)))
    # No torch thread setting here: it is process-global (racy under thread backends), and
    # joblib's loky workers and dask's nannies already cap OMP threads per worker process.
    common = dict(classifier=classifier, dimension=dimension, sharpness=sharpness,
                  representation=representation, attacks=attacks, epsilon=epsilon, bounds=bounds,
                  device=device)
    rows = Parallel(n_jobs=n_jobs, verbose=verbose)(
        delayed(_study_run)(X, y, X_test, y_test, idx, size=size, repeat=repeat, seed=seed,
                            **common)
        for size, repeat, seed, idx in tasks
    )
    results = pd.DataFrame(rows)
    if domain is not None:
        results.insert(0, "domain", domain)

    columns = ("N", "d_repr") if law == "representation" else ("N", "d_data", "K_F")
    fitted_law = ScalingLawRegressor(law=law, columns=columns).fit(results, results["test_loss"])
    delta = results[f"delta_loss_{attacks[0]}"].to_numpy()
    k = results["K_F"].to_numpy()
    if len(results) >= 3 and np.ptp(k) > 0 and np.ptp(delta) > 0:
        res = stats.pearsonr(k, delta)
        correlation = Bunch(r=float(res.statistic), pvalue=float(res.pvalue), n=len(results))
    else:  # r is undefined for fewer than 3 points or a constant column
        correlation = Bunch(r=np.nan, pvalue=np.nan, n=len(results))
    return Bunch(results=results, law=fitted_law, correlation=correlation,
                 train_indices=[idx for _, _, _, idx in tasks])
